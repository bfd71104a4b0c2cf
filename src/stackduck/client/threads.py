"""A small pool of daemon threads for sync handlers.

Daemon threads, unlike ``concurrent.futures`` pools (which the interpreter joins at
exit), let a stopping worker leave a handler that outlived the grace period behind:
the process exits and the server hands the job to another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")
_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class DaemonThreads:
    def __init__(self, size: int, name: str = "stackduck-handler") -> None:
        self._size = size
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    async def run(self, function: Callable[..., R], *args: Any) -> R:
        """Run ``function(*args)`` in one of the threads (with the caller's context
        variables); cancelling the caller abandons the call, it cannot stop it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        context = contextvars.copy_context()
        self._start()
        self._calls.put((loop, future, functools.partial(context.run, function, *args)))
        return await future

    def close(self) -> None:
        """Let idle threads end; busy ones end when their call returns."""
        for _ in self._threads:
            self._calls.put(None)
        self._threads.clear()

    def _start(self) -> None:
        while len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._serve, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, function = call
            try:
                result = function()
            except BaseException as exc:
                error = exc if isinstance(exc, Exception) else RuntimeError(f"handler raised {exc!r}")
                _settle(loop, future, error=error)
            else:
                _settle(loop, future, result=result)


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any = None,
    error: Exception | None = None,
) -> None:
    def settle() -> None:
        if future.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)
