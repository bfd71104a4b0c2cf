"""Where a driver's errors become the project's: one translator per technology."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from stackduck.domain.errors import StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")
Method = Callable[P, Coroutine[Any, Any, R]]


class Edge:
    """Turns a technology's connection errors into :class:`StorageUnavailable`."""

    def __init__(self, name: str, errors: tuple[type[BaseException], ...]) -> None:
        self.name = name
        self.errors = errors

    def unavailable(self, exc: BaseException) -> StorageUnavailable:
        return StorageUnavailable(f"{self.name} is unavailable ({type(exc).__name__}: {exc}); retry shortly")

    def translated(self, method: Method[P, R]) -> Method[P, R]:
        """Run an adapter method; a lost or refused connection raises StorageUnavailable."""

        @functools.wraps(method)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await method(*args, **kwargs)
            except self.errors as exc:
                raise self.unavailable(exc) from exc

        return wrapper
