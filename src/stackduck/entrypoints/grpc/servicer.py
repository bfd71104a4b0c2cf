"""StackDuckService: each RPC translates its request, calls a use-case, translates back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

import grpc

from stackduck.application.acks import Acks, Failure
from stackduck.application.claims import Claims
from stackduck.application.job_admin import JobAdmin
from stackduck.application.limits import Limits
from stackduck.application.ports import JobQuery
from stackduck.application.producer import Producer
from stackduck.application.queue_admin import QueueAdmin
from stackduck.application.schedules import Schedules
from stackduck.application.stops import Stop
from stackduck.application.streams import Streams
from stackduck.application.watches import Watches
from stackduck.domain.errors import InvalidJob
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.rules import validate_job_type, validate_job_types, validate_worker_id
from stackduck.entrypoints.grpc import convert
from stackduck.entrypoints.grpc.errors import streaming, unary
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.peers import client_of

Context = grpc.aio.ServicerContext[Any, Any]
JOB_READY = "job_ready"
JOB_STOP = "job_stop"
#: Bytes kept free in a reply for its own fields, and per job for its framing.
REPLY_HEADROOM = 4096
JOB_OVERHEAD = 16
MAX_BATCH = 10_000
NO_JOB_READY = "no job ready"


class StackDuckServicer:
    """Every RPC of StackDuckService (registered by the generated adder)."""

    def __init__(
        self,
        producer: Producer,
        claims: Claims,
        streams: Streams,
        acks: Acks,
        job_admin: JobAdmin,
        queue_admin: QueueAdmin,
        watches: Watches,
        schedules: Schedules,
        limits: Limits,
        max_message_bytes: int,
    ) -> None:
        #: Replies that carry many jobs are cut to fit what the server may send.
        self._budget = max_message_bytes - REPLY_HEADROOM
        self._producer = producer
        self._claims = claims
        self._streams = streams
        self._acks = acks
        self._job_admin = job_admin
        self._queue_admin = queue_admin
        self._watches = watches
        self._schedules = schedules
        self._limits = limits

    @unary
    async def EnqueueJob(self, request: pb.EnqueueJobRequest, context: Context) -> pb.EnqueueJobResponse:
        [enqueued] = await self._producer.enqueue([convert.job_request(request)])
        return pb.EnqueueJobResponse(job_id=enqueued.job_id, success=True, duplicate=enqueued.duplicate)

    @unary
    async def DequeueJob(self, request: pb.DequeueJobRequest, context: Context) -> pb.DequeueJobResponse:
        job_type = validate_job_type(request.queue_name)
        worker_id = validate_worker_id(request.worker_id) or f"dequeue-{context.peer()}"
        jobs = await self._claims.claim(worker_id, [job_type], 1)
        if not jobs:
            return pb.DequeueJobResponse(success=False, error_message=NO_JOB_READY)
        return pb.DequeueJobResponse(job=convert.job_to_pb(jobs[0]), success=True)

    @unary
    async def DequeueRetriedJob(
        self, request: pb.DequeueRetriedJobRequest, context: Context
    ) -> pb.DequeueRetriedJobResponse:
        [outcome] = await self._job_admin.run_now([convert.job_id(request.job.id)])
        outcome.unwrap()
        return pb.DequeueRetriedJobResponse(success=True)

    @streaming
    async def ConsumeJobs(
        self, request: pb.ConsumeJobsRequest, context: Context
    ) -> AsyncIterator[pb.JobMessage]:
        validate_worker_id(request.worker_id)
        job_types = validate_job_types(list(request.job_types))
        batches = self._streams.consume(
            request.worker_id,
            job_types,
            request.max_in_flight or 1,
            client_of(context.peer() or ""),
            request.stop_messages,
        )
        async with aclosing(batches):
            async for jobs in batches:
                if isinstance(jobs, Stop):  # only to a stream that asked for stops
                    yield pb.JobMessage(notification_type=JOB_STOP, stop=convert.stop_to_pb(jobs))
                    continue
                if request.batch:
                    for chunk in self._fit([convert.job_to_pb(job) for job in jobs]):
                        yield pb.JobMessage(jobs=chunk, notification_type=JOB_READY)
                    continue
                for job in jobs:
                    yield pb.JobMessage(job=convert.job_to_pb(job), notification_type=JOB_READY)

    @unary
    async def CompleteJob(self, request: pb.CompleteJobRequest, context: Context) -> pb.CompleteJobResponse:
        [outcome] = await self._acks.complete([convert.completion(request)])
        outcome.unwrap()
        return pb.CompleteJobResponse(success=True)

    @unary
    async def FailJob(self, request: pb.FailJobRequest, context: Context) -> pb.FailJobResponse:
        job = await self._fail(convert.failure_of(request))
        return pb.FailJobResponse(success=True, will_retry=_will_retry(job), retry_at=_retry_at(job))

    @unary
    async def RetryJob(self, request: pb.RetryJobRequest, context: Context) -> pb.RetryJobResponse:
        failure = convert.failure(
            request.job_id, request.error_message, request.lease_token, request.worker_id, retry=True
        )
        job = await self._fail(failure)
        return pb.RetryJobResponse(success=True, will_retry=_will_retry(job), retry_at=_retry_at(job))

    @unary
    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.Job:
        return convert.job_to_pb(await self._job_admin.get(convert.job_id(request.job_id)))

    @streaming
    async def WatchJob(self, request: pb.WatchJobRequest, context: Context) -> AsyncIterator[pb.JobEvent]:
        events = self._watches.watch(convert.job_id(request.job_id))
        async with aclosing(events):
            async for job in events:
                yield pb.JobEvent(job=convert.job_to_pb(job))

    @unary
    async def CancelJob(self, request: pb.CancelJobRequest, context: Context) -> pb.CancelJobResponse:
        [outcome] = await self._job_admin.cancel([convert.job_id(request.job_id)])
        return pb.CancelJobResponse(success=True, job=convert.job_to_pb(outcome.unwrap()))

    @unary
    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Context) -> pb.HeartbeatResponse:
        ack = convert.ack(request.job_id, request.lease_token, request.worker_id)
        [outcome] = await self._acks.heartbeat([ack])
        job = outcome.unwrap()
        return pb.HeartbeatResponse(success=True, lease_expires_at=convert.seconds(job.lease_expires_at))

    @unary
    async def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: Context
    ) -> pb.ListDeadLettersResponse:
        job_type = convert.job_type_filter(request.job_type)
        page = await self._job_admin.dead_letters(job_type, request.limit, request.page_token, self._budget)
        jobs, next_token = self._fit_page(page.jobs, page.next_cursor)
        return pb.ListDeadLettersResponse(jobs=jobs, next_page_token=next_token)

    @unary
    async def RequeueDeadLetter(
        self, request: pb.RequeueDeadLetterRequest, context: Context
    ) -> pb.RequeueDeadLetterResponse:
        [outcome] = await self._job_admin.requeue_dead([convert.job_id(request.job_id)])
        return pb.RequeueDeadLetterResponse(success=True, job=convert.job_to_pb(outcome.unwrap()))

    @unary
    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        status = convert.job_status(request.status)
        job_type = convert.job_type_filter(request.job_type)
        query = JobQuery(status=status, job_type=job_type)
        page = await self._job_admin.list_jobs(query, request.limit, request.page_token, self._budget)
        jobs, next_token = self._fit_page(page.jobs, page.next_cursor)
        return pb.ListJobsResponse(jobs=jobs, next_page_token=next_token)

    @unary
    async def RequeueDeadLetters(
        self, request: pb.DeadLetterSelection, context: Context
    ) -> pb.DeadLetterCount:
        return pb.DeadLetterCount(count=await self._queue_admin.requeue_dead(convert.selection(request)))

    @unary
    async def PurgeDeadLetters(self, request: pb.DeadLetterSelection, context: Context) -> pb.DeadLetterCount:
        return pb.DeadLetterCount(count=await self._queue_admin.purge_dead(convert.selection(request)))

    @unary
    async def QueueStats(self, request: pb.QueueStatsRequest, context: Context) -> pb.QueueStatsResponse:
        views = await self._queue_admin.queues(request.job_type)
        return pb.QueueStatsResponse(queues=[convert.queue_stats(view) for view in views])

    @unary
    async def PauseQueue(self, request: pb.PauseQueueRequest, context: Context) -> pb.PauseQueueResponse:
        await self._queue_admin.pause(request.job_type)
        return pb.PauseQueueResponse(success=True, paused=True)

    @unary
    async def ResumeQueue(self, request: pb.PauseQueueRequest, context: Context) -> pb.PauseQueueResponse:
        await self._queue_admin.resume(request.job_type)
        return pb.PauseQueueResponse(success=True, paused=False)

    @unary
    async def ListWorkers(self, request: pb.ListWorkersRequest, context: Context) -> pb.ListWorkersResponse:
        return pb.ListWorkersResponse(workers=[convert.worker_info(c) for c in self._queue_admin.workers()])

    @unary
    async def EnqueueJobs(self, request: pb.EnqueueJobsRequest, context: Context) -> pb.EnqueueJobsResponse:
        if not 1 <= len(request.jobs) <= MAX_BATCH:
            raise InvalidJob(f"send 1 to {MAX_BATCH} jobs in one EnqueueJobs call; got {len(request.jobs)}")
        requests = [convert.job_request(job) for job in request.jobs]
        enqueued = await self._producer.enqueue(requests)
        keyed = any(r.idempotency_key for r in requests)
        return pb.EnqueueJobsResponse(
            job_ids=[e.job_id for e in enqueued], duplicate=[e.duplicate for e in enqueued] if keyed else None
        )

    @unary
    async def AckJobs(self, request: pb.AckJobsRequest, context: Context) -> pb.AckJobsResponse:
        if len(request.completed) + len(request.failed) > MAX_BATCH:
            raise InvalidJob(f"send at most {MAX_BATCH} answers in one AckJobs call")
        completes = [convert.completion(a) for a in request.completed]
        failures = [convert.failure_of(f) for f in request.failed]
        completed = await self._acks.complete(completes) if completes else []
        failed = await self._acks.fail(failures) if failures else []
        return pb.AckJobsResponse(
            completed=[convert.ack_result(a.job_id, o) for a, o in zip(completes, completed, strict=True)],
            failed=[convert.ack_result(f.job_id, o) for f, o in zip(failures, failed, strict=True)],
        )

    @unary
    async def PutSchedule(self, request: pb.PutScheduleRequest, context: Context) -> pb.ScheduleResponse:
        schedule, created = await self._schedules.put(convert.schedule_request(request))
        return pb.ScheduleResponse(schedule=convert.schedule_to_pb(schedule), created=created)

    @unary
    async def ListSchedules(
        self, request: pb.ListSchedulesRequest, context: Context
    ) -> pb.ListSchedulesResponse:
        schedules = await self._schedules.schedules()
        return pb.ListSchedulesResponse(schedules=[convert.schedule_to_pb(s) for s in schedules])

    @unary
    async def GetSchedule(self, request: pb.ScheduleName, context: Context) -> pb.ScheduleResponse:
        return pb.ScheduleResponse(schedule=convert.schedule_to_pb(await self._schedules.get(request.name)))

    @unary
    async def DeleteSchedule(self, request: pb.ScheduleName, context: Context) -> pb.DeleteScheduleResponse:
        await self._schedules.delete(request.name)
        return pb.DeleteScheduleResponse(success=True)

    @unary
    async def PauseSchedule(self, request: pb.ScheduleName, context: Context) -> pb.ScheduleResponse:
        return pb.ScheduleResponse(schedule=convert.schedule_to_pb(await self._schedules.pause(request.name)))

    @unary
    async def ResumeSchedule(self, request: pb.ScheduleName, context: Context) -> pb.ScheduleResponse:
        return pb.ScheduleResponse(
            schedule=convert.schedule_to_pb(await self._schedules.resume(request.name))
        )

    @unary
    async def SetLimit(self, request: pb.SetLimitRequest, context: Context) -> pb.LimitStatus:
        usage = await self._limits.set_limit(
            request.job_type,
            request.concurrency,
            request.rate,
            request.per,
            request.burst,
            request.group_concurrency,
        )
        return convert.limit_to_pb(usage)

    @unary
    async def ListLimits(self, request: pb.ListLimitsRequest, context: Context) -> pb.ListLimitsResponse:
        return pb.ListLimitsResponse(limits=[convert.limit_to_pb(u) for u in await self._limits.usage()])

    @unary
    async def ClearLimit(self, request: pb.ClearLimitRequest, context: Context) -> pb.ClearLimitResponse:
        return pb.ClearLimitResponse(cleared=await self._limits.clear_limit(request.job_type))

    def _fit(self, jobs: list[pb.Job]) -> list[list[pb.Job]]:
        """Jobs split into runs that each fit in one message."""
        runs: list[list[pb.Job]] = [[]]
        size = 0
        for job in jobs:
            cost = job.ByteSize() + JOB_OVERHEAD
            if runs[-1] and size + cost > self._budget:
                runs.append([])
                size = 0
            runs[-1].append(job)
            size += cost
        return runs

    def _fit_page(self, page: Sequence[Job], next_cursor: str) -> tuple[list[pb.Job], str]:
        """A page cut to fit one message; the cut continues from its last job."""
        first = self._fit([convert.job_to_pb(job) for job in page])[0]
        if len(first) < len(page):
            return first, first[-1].id
        return first, next_cursor

    async def _fail(self, failure: Failure) -> Job:
        [outcome] = await self._acks.fail([failure])
        return outcome.unwrap()


def _will_retry(job: Job) -> bool:
    return job.status is JobStatus.QUEUED


def _retry_at(job: Job) -> int:
    return convert.seconds(job.run_at) if _will_retry(job) else 0
