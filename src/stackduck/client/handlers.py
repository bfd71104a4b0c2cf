"""Handlers: which callable works which job type, and how each kind is called."""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from stackduck.client.jobs import JobInfo
from stackduck.client.threads import DaemonThreads

#: A handler takes the delivered job; a coroutine function runs on the event loop,
#: any other callable in a thread. Returning completes the job (what it returns, unless
#: None, is the job's result, serialised with ``json.dumps``); raising fails it.
Handler = Callable[[JobInfo], Any]
H = TypeVar("H", bound=Handler)


class NoRetry(Exception):
    """Raised by a handler: the job failed for good. The worker fails it with
    ``no_retry``, so the server dead-letters it at once, whatever retries remain;
    the message is the job's error."""


class RetryIn(Exception):
    """Raised by a handler: the attempt failed; retry after ``seconds`` (a number or a
    ``timedelta``, 0 to 366 days) instead of the backoff. The attempt still counts:
    with no retries left the job is dead-lettered. The message is the job's error."""

    def __init__(self, seconds: float | timedelta, message: str = "") -> None:
        wait = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        if not (math.isfinite(wait) and wait >= 0):
            raise ValueError(f"RetryIn needs a finite number of seconds >= 0; got {seconds!r}")
        super().__init__(message or f"retry in {wait:g} s")
        self.seconds = wait


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
