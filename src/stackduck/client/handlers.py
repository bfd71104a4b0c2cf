"""Handlers: which callable works which job type, and how each kind is called."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

from stackduck.client.jobs import JobInfo
from stackduck.client.threads import DaemonThreads

#: A handler takes the delivered job; a coroutine function runs on the event loop,
#: any other callable in a thread. Returning completes the job, raising fails it.
Handler = Callable[[JobInfo], Any]
H = TypeVar("H", bound=Handler)


class Handlers(Mapping[str, Handler]):
    """Job type → handler, each type registered once."""

    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        for job_type, handler in (handlers or {}).items():
            self.add(job_type, handler)

    def add(self, job_type: str, handler: Handler) -> None:
        if not isinstance(job_type, str) or not job_type:
            raise ValueError(f"a job type must be a non-empty string; got {job_type!r}")
        if not callable(handler):
            raise TypeError(f"the handler for {job_type!r} is not callable: {handler!r}")
        if job_type in self._handlers:
            raise ValueError(f"job type {job_type!r} already has a handler: {self._handlers[job_type]!r}")
        self._handlers[job_type] = handler

    def __getitem__(self, job_type: str) -> Handler:
        return self._handlers[job_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)


async def call(handler: Handler, job: JobInfo, threads: DaemonThreads) -> Any:
    """Await a coroutine function's result on the loop; run anything else in a
    thread (and await what it returns if that is awaitable)."""
    if is_async(handler):
        result = handler(job)
    else:
        result = await threads.run(handler, job)
    if inspect.isawaitable(result):
        awaitable: Awaitable[Any] = result
        result = await awaitable
    return result


def is_async(handler: Handler) -> bool:
    """A coroutine function, or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__)
