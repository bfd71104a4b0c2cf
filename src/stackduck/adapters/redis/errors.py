"""redis-py's connection errors become the project's errors here, at the adapter's edge;
script errors name the file and line of the script they come from."""

from __future__ import annotations

import re
from collections.abc import Callable

from redis import exceptions

from stackduck.adapters.storage_errors import StorageErrors

UNAVAILABLE = (
    exceptions.ConnectionError,
    exceptions.TimeoutError,
    exceptions.BusyLoadingError,
    exceptions.ReadOnlyError,  # a replica after a failover: cannot take writes
    exceptions.OutOfMemoryError,
    OSError,
)
EDGE = StorageErrors("Redis", UNAVAILABLE)
translated = EDGE.translated
unavailable = EDGE.unavailable

#: A line of a script as Redis names it in an error: the line of the text it was sent.
SCRIPT_LINE = re.compile(r"user_script:(\d+)")


def relocate(exc: exceptions.ResponseError, where: Callable[[int], str | None]) -> None:
    """Have a script error's message name, for each script line in it, the line
    ``where`` says it comes from ("user_script:71" -> "_heads.lua:32")."""
    if exc.args and isinstance(exc.args[0], str):
        said = SCRIPT_LINE.sub(lambda line: where(int(line[1])) or line[0], exc.args[0])
        exc.args = (said, *exc.args[1:])
