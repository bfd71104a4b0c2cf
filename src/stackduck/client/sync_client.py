"""Client: the AsyncClient for code without an event loop (scripts, threaded web apps).

Each Client runs one event loop in a daemon thread of its own and hands every call
to it, so any number of threads may share one Client, and it works even where the
calling thread already runs an event loop (docs/adr/0011-python-client.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Self, TypeVar

from stackduck.client.async_client import AsyncClient
from stackduck.client.jobs import JobEvent

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Client, P], R]:
    """The AsyncClient method, run on the client's loop; the caller waits for it."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(method(self._client, *args, **kwargs))

    functools.update_wrapper(call, method)  # name and docstring
    return call


class Client:
    """The same calls as :class:`AsyncClient`, blocking: ``Client(address).enqueue(...)``.

    ``address``, ``timeout``, ``token``, ``tls``, ``tls_ca`` and ``tracer_provider`` as for
    AsyncClient. Each call runs with the calling thread's context variables, so the span
    current where ``enqueue`` is called is the parent of its ``send`` span. Close it (or
    use ``with``) to stop its thread; a forgotten Client does not keep the process alive.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        timeout: float | None = 30.0,
        token: str | None = None,
        tls: bool | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._client = AsyncClient(
            address, timeout=timeout, token=token, tls=tls, tls_ca=tls_ca, tracer_provider=tracer_provider
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stackduck-client", daemon=True)
        self._thread.start()
        self._closed = False
        # Per watch stream, the task taking its next event (touched on the loop only).
        self._stepping: dict[AsyncGenerator[JobEvent, None], asyncio.Task[Any]] = {}

    @property
    def address(self) -> str:
        return self._client.address

    def _run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        if self._closed:
            coroutine.close()
            raise RuntimeError("this stackduck Client is closed")
        # The task starts from a copy of this thread's context variables (the current
        # span among them): run_coroutine_threadsafe schedules it with call_soon_threadsafe.
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:  # KeyboardInterrupt, say: the call must not go on without us
            future.cancel()
            raise

    def watch(self, job_id: str) -> Iterator[JobEvent]:
        """:meth:`AsyncClient.watch` as a blocking iterator: each event as it comes, until
        the job's last state. Leaving the loop early (``break``, an exception) closes the
        stream; so does closing or dropping the iterator."""
        events = self._client.watch(job_id)
        try:
            while True:
                try:
                    event = self._run(self._next(events))
                except StopAsyncIteration:
                    return
                yield event
        finally:
            self._close_stream(events)

    def _close_stream(self, events: AsyncGenerator[JobEvent, None]) -> None:
        if self._closed:  # closing the channel cancelled the stream already
            return
        closing = events.aclose()
        if threading.current_thread() is self._thread:  # dropped on the loop itself
            self._loop.create_task(closing)
            return
        with contextlib.suppress(RuntimeError):
            self._run(closing)
            return
        # "already running": a step of this stream still runs on the loop. A Ctrl-C in this
        # thread cancels the step it waits for, but one that came before the step's future
        # was handed back left nothing to cancel: cancel the step itself, which closes the
        # stream, and close it after in case the step ended first.
        self._loop.call_soon_threadsafe(self._cancel_step, events)

    async def _next(self, events: AsyncGenerator[JobEvent, None]) -> JobEvent:
        task = asyncio.current_task()
        assert task is not None
        self._stepping[events] = task
        try:
            return await anext(events)
        finally:
            self._stepping.pop(events, None)

    def _cancel_step(self, events: AsyncGenerator[JobEvent, None]) -> None:
        step = self._stepping.get(events)
        if step is None:
            self._loop.create_task(events.aclose())
            return
        step.cancel()
        step.add_done_callback(lambda _: self._loop.create_task(events.aclose()))

    def close(self) -> None:
        """Close the channel and stop the thread. Safe to call twice."""
        if self._closed:
            return
        self._run(self._client.close())
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    enqueue = _blocking(AsyncClient.enqueue)
    enqueue_job = _blocking(AsyncClient.enqueue_job)
    enqueue_many = _blocking(AsyncClient.enqueue_many)
    get = _blocking(AsyncClient.get)
    result = _blocking(AsyncClient.result)
    cancel = _blocking(AsyncClient.cancel)
    dead_letters = _blocking(AsyncClient.dead_letters)
    all_dead_letters = _blocking(AsyncClient.all_dead_letters)
    requeue = _blocking(AsyncClient.requeue)
    complete = _blocking(AsyncClient.complete)
    fail = _blocking(AsyncClient.fail)
    heartbeat = _blocking(AsyncClient.heartbeat)
    list_jobs = _blocking(AsyncClient.list_jobs)
    queue_stats = _blocking(AsyncClient.queue_stats)
    pause = _blocking(AsyncClient.pause)
    resume = _blocking(AsyncClient.resume)
    workers = _blocking(AsyncClient.workers)
    requeue_dead_letters = _blocking(AsyncClient.requeue_dead_letters)
    purge_dead_letters = _blocking(AsyncClient.purge_dead_letters)
    schedule = _blocking(AsyncClient.schedule)
    schedules = _blocking(AsyncClient.schedules)
    get_schedule = _blocking(AsyncClient.get_schedule)
    unschedule = _blocking(AsyncClient.unschedule)
    pause_schedule = _blocking(AsyncClient.pause_schedule)
    resume_schedule = _blocking(AsyncClient.resume_schedule)
    set_limit = _blocking(AsyncClient.set_limit)
    limits = _blocking(AsyncClient.limits)
    clear_limit = _blocking(AsyncClient.clear_limit)
