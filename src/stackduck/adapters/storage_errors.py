"""Where a driver's errors become the project's: one translator per technology."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from stackduck.domain.errors import StorageUnavailable
from stackduck.redact import masked

P = ParamSpec("P")
R = TypeVar("R")
Method = Callable[P, Coroutine[Any, Any, R]]


class StorageErrors:
    """Turns a technology's connection errors into :class:`StorageUnavailable`."""

    def __init__(self, name: str, errors: tuple[type[BaseException], ...]) -> None:
        self.name = name
        self.errors = errors

    def unavailable(self, exc: BaseException) -> StorageUnavailable:
        """Clients read which tier and to retry; the driver's words (host, user) are kept
        for the server's log, any password in them masked."""
        said = " ".join(str(exc).split())  # libpq's lines and tabs, on one line
        return StorageUnavailable(
            f"{self.name} is unavailable; retry shortly", detail=masked(f"{type(exc).__name__}: {said}")
        )

    def translated(self, method: Method[P, R]) -> Method[P, R]:
        """Run an adapter method; a lost or refused connection raises StorageUnavailable."""

        @functools.wraps(method)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await method(*args, **kwargs)
            except self.errors as exc:
                raise self.unavailable(exc) from exc

        return wrapper
