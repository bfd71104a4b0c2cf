"""The Lua scripts in scripts/, as Redis runs them and as they were written.

A script says ``--#include <fragment>`` where a fragment's text goes (Redis scripts
cannot load one another); fragments define local functions and constants only, and
what they work on comes in as arguments. The assembled text keeps, per line, the file
and line it was written at, so an error Redis reports at ``user_script:71`` of claim.lua
reads ``_heads.lua:32`` (the ZRANGE there) in the error a script call raises."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import relocate

INCLUDE = "--#include "


@dataclass(frozen=True, slots=True)
class Source:
    """A script's text, and where each of its lines was written."""

    text: str
    #: Per line of ``text``: the file it comes from and its line number there.
    origins: tuple[tuple[str, int], ...]

    def where(self, line: int) -> str | None:
        """``<file>.lua:<line>`` for a line of the text (from 1), None past its end."""
        if not 1 <= line <= len(self.origins):
            return None
        file, number = self.origins[line - 1]
        return f"{file}:{number}"


def _scripts() -> Traversable:
    return files("stackduck.adapters.redis").joinpath("scripts")


def _lines(folder: Traversable, name: str) -> list[tuple[str, str, int]]:
    """(text, file, line number) of each line of ``<name>.lua``, the lines of the
    fragments it includes (from scripts/) where it includes them."""
    file = f"{name}.lua"
    lines: list[tuple[str, str, int]] = []
    for number, text in enumerate(folder.joinpath(file).read_text().splitlines(), start=1):
        if text.startswith(INCLUDE):
            lines.extend(_lines(_scripts(), text.removeprefix(INCLUDE).strip()))
        else:
            lines.append((text, file, number))
    return lines


@cache
def lua(name: str, folder: Path | None = None) -> Source:
    """``<name>.lua`` from scripts/ (or from ``folder``), its includes filled in."""
    lines = _lines(folder or _scripts(), name)
    return Source("".join(f"{text}\n" for text, _, _ in lines), tuple((f, n) for _, f, n in lines))


class Script:
    """A script registered with a client, called as redis-py's scripts are; an error
    Redis reports in it names the file and line it comes from."""

    def __init__(self, client: Client, name: str, folder: Path | None = None) -> None:
        self.source = lua(name, folder)
        self._script = client.register_script(self.source.text)

    async def __call__(
        self, keys: Sequence[str] = (), args: Sequence[Any] = (), client: Client | None = None
    ) -> Any:
        """The script's reply; with a pipeline as ``client``, the call is queued on it
        (run it with :meth:`execute`)."""
        try:
            return await self._script(keys=keys, args=args, client=client)
        except ResponseError as exc:
            relocate(exc, self.source.where)
            raise

    async def execute(self, pipe: Pipeline) -> list[Any]:
        """Run a pipeline of calls to this script: errors come out here, not at the call."""
        try:
            return await pipe.execute()
        except ResponseError as exc:
            relocate(exc, self.source.where)
            raise
