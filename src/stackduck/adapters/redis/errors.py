"""redis-py's connection errors become the project's errors here, at the adapter's edge."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from redis import exceptions

from stackduck.domain.errors import StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")

UNAVAILABLE = (
    exceptions.ConnectionError,
    exceptions.TimeoutError,
    exceptions.BusyLoadingError,
    OSError,
)


def unavailable(exc: BaseException) -> StorageUnavailable:
    return StorageUnavailable(f"Redis is unavailable ({type(exc).__name__}: {exc}); retry shortly")


def translated(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run an adapter method; a lost or refused connection raises StorageUnavailable."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    return wrapper
