"""Worker: handlers per job type, fed by a ConsumeJobs stream that it keeps open.

One stream asks for ``concurrency`` jobs in flight and as many runner tasks work
them. Each delivered job is kept leased by heartbeats from delivery until it is
answered: a return completes it (the value, unless None, as the job's result), an
exception fails it with its message (:class:`NoRetry`: dead-lettered at once,
:class:`RetryIn`: retried after the wait it names). The stream asks for stop messages:
a job cancelled while it runs, or past its timeout (also by the worker's own timer from
the delivered ``attempt_deadline``), is stopped (an async handler's task cancelled, a
thread handler's ``job.cancelled`` set) and never answered. With ``opentelemetry-api``
installed each handler runs in a CONSUMER span (:mod:`stackduck.client.tracing`).
When the server goes away the worker reconnects with capped exponential backoff.
``stop()`` (SIGTERM / SIGINT with ``handle_signals``) takes no new job, lets the
jobs in hand finish within ``grace`` seconds, cancels the rest and closes the
stream, so the server hands them to another worker (docs/adr/0011-python-client.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackduck.client.async_client import AsyncClient
from stackduck.client.backoff import Backoff
from stackduck.client.errors import worth_reconnecting
from stackduck.client.handlers import (
    H,
    Handler,
    Handlers,
    NoRetry,
    RetryIn,
    RunningJob,
    StopFlag,
    call,
    is_async,
)
from stackduck.client.jobs import JobInfo, JobStop, encode_result
from stackduck.client.leases import attempt_time_left, keep_leased
from stackduck.client.threads import DaemonThreads
from stackduck.client.tracing import tracing
from stackduck.domain.errors import InvalidJob, StackduckError, StorageUnavailable

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = logging.getLogger("stackduck.worker")

MAX_CONCURRENCY = 1000  # the server's max_in_flight limit
#: How long an answer is retried while the server is unavailable.
ANSWER_RETRY_SECONDS = 30.0
#: A stream that lived this long earns a fresh backoff even if it brought no job.
HEALTHY_STREAM_SECONDS = 10.0
#: JobStop.reason of an attempt past its timeout.
TIMED_OUT = "timed_out"


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass(eq=False)
class _Stream:
    """One ConsumeJobs stream, the deliveries it brought that no runner took, and
    every delivery of it not done with yet (by job id and lease token)."""

    waiting: set[_Delivery] = field(default_factory=set)
    held: dict[tuple[str, int], _Delivery] = field(default_factory=dict)
    ended: bool = False

    def end(self) -> None:
        """The server hands back what this stream held: stop keeping those leased."""
        self.ended = True
        for delivery in self.waiting:
            delivery.quiet()
        self.waiting.clear()


@dataclass(eq=False)
class _Delivery:
    job: RunningJob
    stop: StopFlag
    stream: _Stream
    heartbeats: asyncio.Task[None]
    timer: asyncio.TimerHandle | None = None  # the worker's own attempt deadline
    handling: asyncio.Task[str | None] | None = None  # the handler, once a runner started it

    @property
    def key(self) -> tuple[str, int]:
        return self.job.id, self.job.lease_token

    def quiet(self) -> None:
        """No more heartbeats, no deadline: the delivery is answered or given up."""
        self.heartbeats.cancel()
        if self.timer is not None:
            self.timer.cancel()

    def done(self) -> None:
        self.quiet()
        if self.stream.held.get(self.key) is self:
            del self.stream.held[self.key]


@dataclass(eq=False)
class _Run:
    """One call of :meth:`Worker.run`, made on its event loop."""

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    forced: asyncio.Event = field(default_factory=asyncio.Event)  # a second stop: no more grace
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # set while no job is in hand
    deadline: float = 0.0  # loop time when the grace runs out
    busy: int = 0  # jobs in hand: handler running or answer on its way
    runners: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.idle.set()


class Worker:
    """Runs handlers for jobs of the types they are registered for.

    ``address`` as for :class:`AsyncClient` (default: ``SERVER_ADDR`` / ``GRPC_PORT``).
    ``concurrency``: handlers running at once, and the stream's ``max_in_flight``.
    ``grace``: seconds the jobs in hand get to finish after ``stop()``.
    ``max_backoff``: the longest wait between two reconnection attempts.
    ``token``: as for :class:`AsyncClient` (default: ``STACKDUCK_AUTH_TOKEN``).
    ``tls_ca`` and ``tls``: as for :class:`AsyncClient` (default: ``STACKDUCK_TLS_CA``);
    a failed TLS handshake stops the worker with :class:`TlsHandshakeFailed`.
    ``tracer_provider``: where the handlers' spans go when ``opentelemetry-api`` is
    installed (default: the global provider).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        handlers: Mapping[str, Handler] | None = None,
        concurrency: int = 1,
        worker_id: str | None = None,
        grace: float = 20.0,
        max_backoff: float = 10.0,
        token: str | None = None,
        tls: bool | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be 1 to {MAX_CONCURRENCY}; got {concurrency}")
        if grace < 0 or max_backoff <= 0:
            raise ValueError(f"grace must be >= 0 and max_backoff > 0; got {grace}, {max_backoff}")
        self.address = address
        self.handlers = Handlers(handlers)
        self.concurrency = concurrency
        self.worker_id = worker_id or default_worker_id()
        self.grace = grace
        self.max_backoff = max_backoff
        self.token = token
        self.tls = tls
        self.tls_ca = tls_ca
        self.tracer_provider = tracer_provider
        self._tracing = tracing(tracer_provider)
        self._run: _Run | None = None

    def handler(self, job_type: str) -> Callable[[H], H]:
        """Decorator: ``@worker.handler("email_send")`` registers the function."""

        def register(function: H) -> H:
            self.handlers.add(job_type, function)
            return function

        return register

    def with_options(
        self,
        *,
        address: str | None = None,
        concurrency: int | None = None,
        worker_id: str | None = None,
        grace: float | None = None,
        tls: bool | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
    ) -> Worker:
        """A new worker with the same handlers; options left None are kept."""
        return Worker(
            address or self.address,
            handlers=self.handlers,
            concurrency=concurrency or self.concurrency,
            worker_id=worker_id or self.worker_id,
            grace=self.grace if grace is None else grace,
            max_backoff=self.max_backoff,
            token=self.token,
            tls=tls if tls is not None else (True if tls_ca else self.tls),
            tls_ca=tls_ca or self.tls_ca,
            tracer_provider=self.tracer_provider,
        )

    # -- running -----------------------------------------------------------

    def run_sync(self) -> None:
        """Run until SIGTERM or SIGINT (a second signal cuts the grace short)."""
        asyncio.run(self.run(handle_signals=True))

    async def run(self, *, handle_signals: bool = False) -> None:
        """Work jobs until :meth:`stop` (or, with ``handle_signals``, SIGTERM/SIGINT).
        Raises the project error when the server refuses the stream's request or
        credentials (reconnecting cannot help then)."""
        if not self.handlers:
            raise ValueError("the worker has no handlers: register one with @worker.handler(job_type)")
        if self._run is not None:
            raise RuntimeError(f"worker {self.worker_id} is already running")
        loop = asyncio.get_running_loop()
        client = AsyncClient(self.address, token=self.token, tls=self.tls, tls_ca=self.tls_ca)
        threads = DaemonThreads(self.concurrency)
        pending: asyncio.Queue[_Delivery] = asyncio.Queue()
        run = self._run = _Run()
        run.runners = [
            asyncio.create_task(self._runner(run, client, pending, threads)) for _ in range(self.concurrency)
        ]
        signals: list[signal.Signals] = []
        log.info(
            "worker %s: %s on %s, concurrency %d",
            self.worker_id,
            ", ".join(self.handlers),
            client.address,
            self.concurrency,
        )
        try:
            for signum in (signal.SIGTERM, signal.SIGINT) if handle_signals else ():
                loop.add_signal_handler(signum, self.stop)
                signals.append(signum)
            await self._consume(run, client, pending)
            await self._finish(run)  # stopped between two streams: finish what is in hand
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            await _cancel(run.runners)
            threads.close()
            await client.close()
            self._run = None
            log.info("worker %s stopped", self.worker_id)

    def stop(self) -> None:
        """Take no new job and finish the jobs in hand within the grace period; a
        second call cancels them now. Call it on the worker's event loop."""
        run = self._run
        if run is None:
            return
        if run.stopping.is_set():
            log.warning("worker %s: stopping now", self.worker_id)
            run.forced.set()
            return
        run.deadline = asyncio.get_running_loop().time() + self.grace
        log.info("worker %s: stopping, %d job(s) in hand, grace %.1f s", self.worker_id, run.busy, self.grace)
        run.stopping.set()

    # -- the stream --------------------------------------------------------

    async def _consume(self, run: _Run, client: AsyncClient, pending: asyncio.Queue[_Delivery]) -> None:
        """Streams, one after the other, until the worker stops."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(min(0.1, self.max_backoff), self.max_backoff)
        while not run.stopping.is_set():
            opened = loop.time()
            try:
                got_jobs = await self._stream(run, client, pending)
            except StackduckError as exc:
                if not worth_reconnecting(exc):  # job types, worker id or token refused
                    raise
                got_jobs = False
                log.warning("worker %s: stream lost: %s", self.worker_id, exc)
            if run.stopping.is_set():
                return
            if got_jobs or loop.time() - opened >= HEALTHY_STREAM_SECONDS:
                backoff.reset()
            wait = backoff.next()
            log.info("worker %s: reconnecting to %s in %.2f s", self.worker_id, client.address, wait)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
            # that arrives as the event is set.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await run.stopping.wait()

    async def _stream(self, run: _Run, client: AsyncClient, pending: asyncio.Queue[_Delivery]) -> bool:
        """One stream, until it ends (True if it brought a job) or the worker stops
        (then only once the jobs in hand are finished: their answers need the lease)."""
        stream = _Stream()
        jobs = client.consume(
            self.worker_id, list(self.handlers), max_in_flight=self.concurrency, stop_messages=True
        )
        got_jobs = False

        async def read() -> None:
            nonlocal got_jobs
            async for item in jobs:
                if isinstance(item, JobStop):
                    self._stop_message(stream, item)
                    continue
                got_jobs = True
                pending.put_nowait(self._deliver(client, stream, item))

        reader = asyncio.create_task(read())
        stopping = asyncio.create_task(run.stopping.wait())
        try:
            await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():
                await self._finish(run)
            elif (error := reader.exception()) is not None:
                raise error
            else:
                log.warning("worker %s: the server ended the stream", self.worker_id)
            return got_jobs
        finally:
            await _cancel([reader, stopping])
            await jobs.aclose()
            stream.end()

    def _deliver(self, client: AsyncClient, stream: _Stream, delivered: JobInfo) -> _Delivery:
        """Keep the delivered job leased, and arm its deadline, until it is done."""
        stop = StopFlag()
        job = RunningJob.delivered(delivered, stop)
        beats = asyncio.create_task(keep_leased(client, job, self.worker_id))
        delivery = _Delivery(job, stop, stream, beats)
        stream.waiting.add(delivery)
        stream.held[delivery.key] = delivery
        left = attempt_time_left(job, time.time())
        if left is not None:
            said = f"timed out after {job.timeout:g} s" if job.timeout else "its attempt deadline passed"
            message = f"{said} (by the worker's own clock)"
            timer = asyncio.get_running_loop().call_later(left, self._stop, delivery, TIMED_OUT, message)
            delivery.timer = timer
        return delivery

    def _stop_message(self, stream: _Stream, stop: JobStop) -> None:
        delivery = stream.held.get((stop.job_id, stop.lease_token))
        if delivery is None:  # answered, or handed back, already
            log.debug("job %s: stop (%s) for a delivery no longer in hand", stop.job_id, stop.reason)
            return
        self._stop(delivery, stop.reason, stop.message)

    def _stop(self, delivery: _Delivery, reason: str, message: str) -> None:
        """Give the job up: cancel an async handler, tell a thread handler (job.cancelled),
        no more heartbeats, and never answer it. A job not started is never started."""
        if delivery.stop.is_set():  # the stop message and the timer: the first one acts
            return
        job = delivery.job
        delivery.stop.set(reason)
        delivery.quiet()
        log.info("job %s (%s) stopped (%s): %s", job.id, job.job_type, reason, message)
        if delivery in delivery.stream.waiting:  # no runner took it: none will
            delivery.stream.waiting.discard(delivery)
            delivery.done()
        elif delivery.handling is not None and is_async(self.handlers[job.job_type]):
            delivery.handling.cancel()

    # -- the runners -------------------------------------------------------

    async def _runner(
        self, run: _Run, client: AsyncClient, pending: asyncio.Queue[_Delivery], threads: DaemonThreads
    ) -> None:
        while True:
            delivery = await pending.get()
            if delivery.stream.ended or run.stopping.is_set() or delivery.stop.is_set():
                continue  # never started: kept leased until its stream closes and hands it back
            delivery.stream.waiting.discard(delivery)
            run.busy += 1
            run.idle.clear()
            try:
                await self._work(client, delivery, threads)
            finally:
                delivery.done()
                run.busy -= 1
                if not run.busy:
                    run.idle.set()

    async def _work(self, client: AsyncClient, delivery: _Delivery, threads: DaemonThreads) -> None:
        """Run the handler in a task of its own (a stop cancels that task, not the
        runner), then answer, unless the job was stopped meanwhile."""
        job = delivery.job
        handling = delivery.handling = asyncio.create_task(self._handle(job, threads))
        try:
            await asyncio.wait({handling})
        except asyncio.CancelledError:  # the worker stops and the grace is over
            handling.cancel()
            await asyncio.wait({handling})
            raise
        # No heartbeat once the handler is done: the answer is the last word on the lease.
        delivery.quiet()
        outcome = None if handling.cancelled() else handling.exception()
        if job.cancelled:  # whatever the handler did since, the server would refuse an answer
            if handling.cancelled():
                ended = "was cancelled"
            else:
                ended = "returned" if outcome is None else f"raised {_message(outcome)}"
            log.debug("job %s: the stopped handler %s; no answer sent", job.id, ended)
            return
        error: Exception | None = None
        result: str | None = None
        if handling.cancelled():  # the handler raised CancelledError of its own accord
            error = RuntimeError("the handler was cancelled")
            log.warning("job %s (%s) failed: %s", job.id, job.job_type, error)
        elif isinstance(outcome, NoRetry | RetryIn):  # the handler's own decision: no traceback
            log.warning("job %s (%s) failed: %s", job.id, job.job_type, _message(outcome))
            error = outcome
        elif isinstance(outcome, Exception):
            log.warning("job %s (%s) failed: %s", job.id, job.job_type, _message(outcome), exc_info=outcome)
            error = outcome
        elif outcome is None:
            result = handling.result()
        else:  # a BaseException asyncio did not re-raise itself
            raise outcome
        await self._answer(client, job, error, result)

    async def _handle(self, job: RunningJob, threads: DaemonThreads) -> str | None:
        with self._span(job):
            return encode_result(await call(self.handlers[job.job_type], job, threads))

    def _span(self, job: JobInfo) -> contextlib.AbstractContextManager[Any]:
        """The handler's CONSUMER span, when tracing is on."""
        if self._tracing is None:
            return contextlib.nullcontext()
        return self._tracing.process(job, self.worker_id)

    async def _answer(
        self, client: AsyncClient, job: RunningJob, error: Exception | None, result: str | None
    ) -> None:
        """CompleteJob (with the result) or FailJob, with the lease token; retried while
        the server is unavailable (unless the job is stopped meanwhile), dropped (with a
        warning) when the lease is no longer ours. A result the server refuses (too
        large) fails the job instead."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + ANSWER_RETRY_SECONDS
        backoff = Backoff(0.1, 2.0)
        while True:
            try:
                if error is None:
                    try:
                        await client._complete(job, self.worker_id, result)
                    except InvalidJob as exc:  # the lease is fine: the result is not
                        error = InvalidJob(f"the server refused the handler's result: {exc}")
                        log.warning("job %s (%s) failed: %s", job.id, job.job_type, error)
                        continue
                    log.info("job %s (%s) completed", job.id, job.job_type)
                else:
                    retry_at = await client.fail(job, _message(error), self.worker_id, **_failure(error))
                    outcome = f"retry at {retry_at:%Y-%m-%d %H:%M:%S}Z" if retry_at else "dead-lettered"
                    log.info("job %s (%s) failure reported: %s", job.id, job.job_type, outcome)
                return
            except StorageUnavailable as exc:
                if job.cancelled:
                    log.info("job %s: stopped while its answer waited for the server; not sent", job.id)
                    return
                if loop.time() >= give_up:
                    log.warning("job %s: answer not delivered, its lease will run out: %s", job.id, exc)
                    return
                await asyncio.sleep(backoff.next())
            except StackduckError as exc:
                if job.cancelled or await _stopped_meanwhile(client, job):  # it crossed the stop
                    log.info("job %s: answer refused, the job was stopped as it ended: %s", job.id, exc)
                else:
                    log.warning("job %s: answer refused (the lease is no longer ours): %s", job.id, exc)
                return

    # -- stopping ----------------------------------------------------------

    async def _finish(self, run: _Run) -> None:
        """Wait for the jobs in hand until the grace runs out (or a second stop),
        then cancel what is left."""
        if run.busy:
            remaining = max(run.deadline - asyncio.get_running_loop().time(), 0.0)
            waits = [asyncio.create_task(run.idle.wait()), asyncio.create_task(run.forced.wait())]
            await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            await _cancel(waits)
        if run.busy:
            log.warning(
                "worker %s: grace over, cancelling %d job(s); the server hands them back",
                self.worker_id,
                run.busy,
            )
        await _cancel(run.runners)


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _stopped_meanwhile(client: AsyncClient, job: RunningJob) -> bool:
    """Whether this delivery of the job ended cancelled or timed out (its stop message may
    still be on its way): then a refused answer is expected, not a lost lease."""
    try:
        now = await client.get(job.id)
    except StackduckError:
        return False
    ends = {attempt.outcome for attempt in now.attempts if attempt.number == job.lease_token}
    return bool(ends & {"cancelled", TIMED_OUT})


def _failure(error: Exception) -> dict[str, Any]:
    """How the handler asked for its failure to be treated."""
    if isinstance(error, NoRetry):
        return {"no_retry": True}
    if isinstance(error, RetryIn):
        return {"retry_in": error.seconds}
    return {}


def _message(error: BaseException) -> str:
    return str(error) or type(error).__name__
