"""Handlers: which callable works which job type, and how each kind is called."""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, TypeVar

from stackduck.client.jobs import JobInfo
from stackduck.client.threads import DaemonThreads


class StopFlag:
    """Set once, on the worker's event loop, when the worker is told to stop a job;
    read from any thread."""

    __slots__ = ("_event", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout)


@dataclass(frozen=True, slots=True)
class RunningJob(JobInfo):
    """The job a handler receives: the delivered :class:`JobInfo`, and whether the
    worker has been told to stop working on it.

    When the job is cancelled while it runs, or its attempt passes its timeout, an
    ``async def`` handler's task is cancelled (``asyncio.CancelledError`` at its current
    ``await``); a plain function, which runs in a thread and cannot be interrupted,
    sees :attr:`cancelled` become true and should return soon: until it does it keeps
    its thread and its place among the worker's ``concurrency``. Either way the worker
    sends no answer for the job (the server would refuse it), whatever the handler
    returns or raises afterwards.
    """

    _stop: StopFlag = field(default_factory=StopFlag, repr=False, compare=False)

    @classmethod
    def delivered(cls, job: JobInfo, stop: StopFlag) -> RunningJob:
        return cls(**{f.name: getattr(job, f.name) for f in fields(JobInfo)}, _stop=stop)

    @property
    def cancelled(self) -> bool:
        """True once the worker has been told to stop this job: cancelled, or timed out
        (:attr:`stop_reason` says which)."""
        return self._stop.is_set()

    @property
    def stop_reason(self) -> str | None:
        """``"cancelled"`` (CancelJob while it ran) or ``"timed_out"`` (its attempt ran
        past the job's timeout); None while the job may go on."""
        return self._stop.reason

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """For a thread handler: block until the job is stopped or ``timeout`` seconds
        pass; returns :attr:`cancelled` (an interruptible ``time.sleep``). Never call it
        from an ``async def`` handler: it would block the event loop."""
        return self._stop.wait(timeout)


#: A handler takes the delivered job (a :class:`RunningJob`, a :class:`JobInfo` with
#: ``cancelled``); a coroutine function runs on the event loop, any other callable in a
#: thread. Returning completes the job (what it returns, unless None, is the job's
#: result, serialised with ``json.dumps``); raising fails it.
Handler = Callable[[RunningJob], Any]
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


async def call(handler: Handler, job: RunningJob, threads: DaemonThreads) -> Any:
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
