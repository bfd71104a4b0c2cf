"""AsyncClient: every RPC of the server as a typed coroutine (grpc.aio underneath)."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, overload

import grpc

from stackduck.client.address import auth_token, server_address
from stackduck.client.channel import transport
from stackduck.client.errors import error_from
from stackduck.client.jobs import DeadLetterPage, JobInfo, JobStop, NewJob, Payload, encode_result, moment
from stackduck.client.limits import LimitCalls
from stackduck.client.operations import OperatorCalls
from stackduck.client.schedules import ScheduleCalls
from stackduck.client.tracing import sent, tracing
from stackduck.client.watching import WatchCalls
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

#: Jobs per EnqueueJobs call (the server takes up to 10,000).
MAX_BATCH = 10_000
#: Channel settings: no client-side cap on what the server sends (it enforces its
#: own payload limit), and reconnection attempts at least every few seconds.
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", -1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 5000),
    # Each client its own connections: otherwise a new client shares the process-wide
    # subchannel of an older one, and inherits its reconnect backoff after an outage
    # (its first calls fail at once with the old "connection refused").
    ("grpc.use_local_subchannel_pool", 1),
)


class AsyncClient(WatchCalls, OperatorCalls, ScheduleCalls, LimitCalls):
    """A connection to one Stackduck server.

    ``address`` is ``host:port`` (or a bare port on 127.0.0.1); without it the
    server's variables are read: ``SERVER_ADDR``, else ``GRPC_PORT``. ``token``: the
    bearer token of a server started with one (default: ``STACKDUCK_AUTH_TOKEN`` or the
    file ``STACKDUCK_AUTH_TOKEN_FILE`` names, as the server reads them). ``tls_ca``: a
    PEM file of the CA to trust when the server speaks TLS (default:
    ``STACKDUCK_TLS_CA``); ``tls=True`` speaks TLS trusting the system's roots when no CA
    is named, ``tls=False`` plain text whatever the variable says. A failed handshake is
    :class:`TlsHandshakeFailed`, which says what to change. ``timeout``
    is the deadline of each unary call in seconds (None: no deadline).
    ``tracer_provider``: where enqueue's spans go when ``opentelemetry-api`` is installed
    (default: the global provider); see :mod:`stackduck.client.tracing`. The channel
    opens at the first call, on the running event loop. Every failure is a project
    error from :mod:`stackduck.domain.errors`; UNAVAILABLE (server or storage away,
    server shutting down) is :class:`StorageUnavailable`, worth a retry.
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
        self.address = server_address(address)
        self._tracing = tracing(tracer_provider)
        self.transport = transport(tls, tls_ca)
        self.timeout = timeout
        bearer = auth_token(token)
        self._metadata = (("authorization", f"Bearer {bearer}"),) if bearer else ()
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel (calls in progress are cancelled). Safe to call twice."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()

    @property
    def stub(self) -> Any:
        """The generated stub, for what this class does not cover."""
        if self._stub is None:
            self._channel = self.transport.channel(self.address, CHANNEL_OPTIONS)
            self._stub = StackDuckServiceStub(self._channel)
        return self._stub

    async def _call(self, rpc: str, request: Any, job_id: str = "") -> Any:
        try:
            return await getattr(self.stub, rpc)(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc, job_id, self.transport) from exc

    # -- producing ---------------------------------------------------------

    async def enqueue(
        self,
        job_type: str,
        payload: Payload = "{}",
        *,
        priority: int | None = None,
        delay: int | None = None,
        max_retries: int | None = None,
        retry_limit: int | None = None,
        scheduled_at: datetime | str | None = None,
        scheduled_in: float | timedelta | None = None,
        timeout: float | timedelta | None = None,  # noqa: ASYNC109 - the job's, not this call's
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        group: str | None = None,
    ) -> str:
        """Enqueue one job; returns its id once the server has stored it.

        ``payload``: a str is sent as is (it must be JSON text); a dict, list or
        other value is serialised with ``json.dumps``. ``priority`` 1 (high) to 3
        (low); ``delay`` the retry backoff base in seconds; ``max_retries``, or
        ``retry_limit`` for an exact count (0 = never retry); the first run at
        ``scheduled_at`` (an aware datetime or RFC 3339 text) or ``scheduled_in``
        seconds from now; ``timeout``: the run time each attempt may take (seconds or a
        timedelta, at most a day; past it the attempt fails as timed out).
        ``metadata``: string pairs kept and delivered with the job (at most 64; keys of
        letters, digits, ``.``, ``_``, ``-``; 16 KiB in all); with tracing on, the trace
        context is added to them. ``idempotency_key``: while a job of this type with
        this key is kept (and for a day at least), enqueueing it again creates nothing
        and returns the first job's id; resend with the same key after a call that
        failed or timed out. ``group``: the fair-queue group within the type (a tenant,
        say): within a type and priority its groups take turns, so one group's backlog
        does not hold up another's jobs. None leaves the server's default.
        """
        job = NewJob(
            job_type,
            payload,
            priority=priority,
            delay=delay,
            max_retries=max_retries,
            retry_limit=retry_limit,
            scheduled_at=scheduled_at,
            scheduled_in=scheduled_in,
            timeout=timeout,
            metadata=metadata,
            idempotency_key=idempotency_key,
            group=group,
        )
        return await self.enqueue_job(job)

    async def enqueue_job(self, job: NewJob) -> str:
        """Enqueue one :class:`NewJob`; returns its id."""
        request = job.to_pb()
        if self._tracing is None:
            return str((await self._call("EnqueueJob", request)).job_id)
        with self._tracing.send([request]) as span:
            job_id = str((await self._call("EnqueueJob", request)).job_id)
            sent(span, job_id)
        return job_id

    async def enqueue_many(self, jobs: Iterable[NewJob]) -> list[str]:
        """Enqueue several jobs with EnqueueJobs; returns their ids in order.

        Every job is checked and serialised before any is sent. Up to 10,000 jobs go
        in one call, all or nothing: when the server refuses one, none of that call
        is stored and the error names the job ("job 3 of the batch: ..."). Larger
        lists take several calls, each all or nothing.
        """
        requests = [job.to_pb() for job in jobs]
        ids: list[str] = []
        for start in range(0, len(requests), MAX_BATCH):
            chunk = requests[start : start + MAX_BATCH]
            if self._tracing is None:
                reply = await self._call("EnqueueJobs", pb.EnqueueJobsRequest(jobs=chunk))
            else:
                with self._tracing.send(chunk, batch=True):
                    reply = await self._call("EnqueueJobs", pb.EnqueueJobsRequest(jobs=chunk))
            ids.extend(str(job_id) for job_id in reply.job_ids)
        return ids

    # -- inspecting and managing -------------------------------------------

    async def get(self, job_id: str) -> JobInfo:
        """One job by id (:class:`JobNotFound` when there is none)."""
        return JobInfo.from_pb(await self._call("GetJob", pb.GetJobRequest(job_id=job_id), job_id))

    async def cancel(self, job_id: str) -> JobInfo:
        """Cancel a queued, scheduled or running job; returns it cancelled. A running
        job's worker is told to stop (its answer is refused); a finished job is refused
        with :class:`IllegalTransition`."""
        reply = await self._call("CancelJob", pb.CancelJobRequest(job_id=job_id), job_id)
        return JobInfo.from_pb(reply.job)

    async def dead_letters(
        self, job_type: str | None = None, *, limit: int = 100, page_token: str | None = None
    ) -> DeadLetterPage:
        """One page of dead-lettered jobs (status failed), oldest first. Pass the
        page's ``next_page_token`` for the next one (None on the last page)."""
        request = pb.ListDeadLettersRequest(job_type=job_type or "", limit=limit, page_token=page_token or "")
        reply = await self._call("ListDeadLetters", request)
        jobs = tuple(JobInfo.from_pb(job) for job in reply.jobs)
        return DeadLetterPage(jobs, reply.next_page_token or None)

    async def all_dead_letters(self, job_type: str | None = None, *, page_size: int = 100) -> list[JobInfo]:
        """Every dead letter (of ``job_type``), page after page."""
        jobs: list[JobInfo] = []
        token: str | None = None
        while True:
            page = await self.dead_letters(job_type, limit=page_size, page_token=token)
            jobs.extend(page.jobs)
            if page.next_page_token is None:
                return jobs
            token = page.next_page_token

    async def requeue(self, job_id: str) -> JobInfo:
        """Move a dead letter back to the queue with a fresh retry budget."""
        reply = await self._call("RequeueDeadLetter", pb.RequeueDeadLetterRequest(job_id=job_id), job_id)
        return JobInfo.from_pb(reply.job)

    # -- working (what Worker uses; for hand-written workers too) ------------

    @overload
    def consume(
        self,
        worker_id: str,
        job_types: Collection[str],
        *,
        max_in_flight: int = 1,
        stop_messages: Literal[False] = False,
    ) -> AsyncGenerator[JobInfo, None]: ...

    @overload
    def consume(
        self,
        worker_id: str,
        job_types: Collection[str],
        *,
        max_in_flight: int = 1,
        stop_messages: Literal[True],
    ) -> AsyncGenerator[JobInfo | JobStop, None]: ...

    async def consume(
        self,
        worker_id: str,
        job_types: Collection[str],
        *,
        max_in_flight: int = 1,
        stop_messages: bool = False,
    ) -> AsyncGenerator[JobInfo | JobStop, None]:
        """The ConsumeJobs stream: jobs as the server pushes them, never more than
        ``max_in_flight`` unanswered. Leaving the loop closes the stream, and the
        server hands the unanswered jobs back to the queue. ``stop_messages``: the
        stream also yields a :class:`JobStop` when a job it delivered is cancelled or
        times out: stop working on it and send no answer."""
        request = pb.ConsumeJobsRequest(
            worker_id=worker_id,
            job_types=list(job_types),
            max_in_flight=max_in_flight,
            stop_messages=stop_messages,
        )
        call = self.stub.ConsumeJobs(request, metadata=self._metadata)
        try:
            async for message in call:
                if message.HasField("stop"):
                    yield JobStop.from_pb(message.stop)
                else:
                    yield JobInfo.from_pb(message.job)
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc, transport=self.transport) from exc
        finally:
            call.cancel()

    async def complete(self, job: JobInfo, worker_id: str | None = None, *, result: Any = None) -> None:
        """Acknowledge a delivered job as done (with its lease token). ``result``: the
        job's result, any value ``json.dumps`` serialises (a str becomes a JSON string);
        None sends none. A value JSON cannot carry is :class:`InvalidJob`, one over the
        server's payload limit :class:`LimitExceeded`."""
        await self._complete(job, worker_id, encode_result(result))

    async def _complete(self, job: JobInfo, worker_id: str | None, result: str | None) -> None:
        """CompleteJob with a result already serialised (None: no result)."""
        request = pb.CompleteJobRequest(
            job_id=job.id, lease_token=job.lease_token, worker_id=worker_id or "", result=result
        )
        await self._call("CompleteJob", request, job.id)

    async def fail(
        self,
        job: JobInfo,
        error_message: str,
        worker_id: str | None = None,
        *,
        no_retry: bool = False,
        retry_in: float | timedelta | None = None,
    ) -> datetime | None:
        """Report a failed attempt; returns when the retry is due, or None when the
        job was dead-lettered (retries spent, or ``no_retry``). ``retry_in``: retry
        after this many seconds instead of the backoff (the attempt still counts)."""
        request = pb.FailJobRequest(
            job_id=job.id,
            lease_token=job.lease_token,
            worker_id=worker_id or "",
            error_message=error_message,
            no_retry=no_retry,
        )
        if retry_in is not None:
            request.retry_in = retry_in.total_seconds() if isinstance(retry_in, timedelta) else retry_in
        reply = await self._call("FailJob", request, job.id)
        return moment(reply.retry_at) if reply.will_retry else None

    async def heartbeat(self, job: JobInfo, worker_id: str | None = None) -> datetime | None:
        """Extend a running job's lease; returns the new deadline."""
        request = pb.HeartbeatRequest(job_id=job.id, lease_token=job.lease_token, worker_id=worker_id or "")
        reply = await self._call("Heartbeat", request, job.id)
        return moment(reply.lease_expires_at)
