"""Translation between wire messages and domain / application values."""

from __future__ import annotations

import json

from stackduck.application.acks import Ack, Failure
from stackduck.application.consumers import Consumer
from stackduck.application.limits import LimitUsage
from stackduck.application.moves import Outcome
from stackduck.application.queue_admin import DeadLetterSelection, QueueView
from stackduck.application.schedules import ScheduleRequest
from stackduck.application.stops import Stop
from stackduck.domain.errors import InvalidJob, quoted
from stackduck.domain.job import MAX_ATTEMPT, Attempt, Job, JobStatus
from stackduck.domain.rules import (
    JobRequest,
    validate_id,
    validate_job_type,
    validate_retry_in,
    validate_text,
    validate_worker_id,
)
from stackduck.domain.schedule import Schedule
from stackduck.entrypoints.grpc.errors import status_for
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb


def seconds(moment: float | None) -> int:
    return int(moment) if moment else 0


def job_to_pb(job: Job) -> pb.Job:
    """The job on the wire. What a job carries beyond its work (result, metadata,
    attempts, timeout, key) is set only where it has some: a field given to the
    constructor costs its conversion even when empty, and most jobs carry none."""
    message = pb.Job(
        id=job.id,
        job_type=job.job_type,
        payload=job.payload,
        status=job.status.value,
        priority=job.priority,
        retry_count=job.retry_count,
        max_retries=job.max_retries,
        error_message=job.error_message,
        delay=job.delay,
        scheduled_at=seconds(job.run_at),
        started_at=seconds(job.started_at),
        completed_at=seconds(job.completed_at),
        created_at=seconds(job.created_at),
        updated_at=seconds(job.updated_at),
        lease_token=job.attempt,
        worker_id=job.lease_owner or "",
        lease_expires_at=seconds(job.lease_expires_at),
    )
    if job.result is not None:
        message.result = job.result
    if job.metadata:
        message.metadata.update(json.loads(job.metadata))
    if job.attempts:
        message.attempts.extend(attempt_to_pb(a) for a in job.attempts)
    if job.timeout:
        message.timeout_seconds = job.timeout
    if job.attempt_deadline is not None:
        message.attempt_deadline = job.attempt_deadline
    if job.idempotency_key:
        message.idempotency_key = job.idempotency_key
    if job.group_key:
        message.group = job.group_key
    return message


def attempt_to_pb(attempt: Attempt) -> pb.Attempt:
    return pb.Attempt(
        number=attempt.number,
        worker_id=attempt.worker_id,
        started_at=attempt.started_at,
        ended_at=attempt.ended_at,
        outcome=attempt.outcome,
        error=attempt.error,
    )


def stop_to_pb(stop: Stop) -> pb.JobStop:
    return pb.JobStop(
        job_id=stop.job_id, lease_token=stop.lease_token, reason=stop.reason, message=stop.message
    )


def job_request(message: pb.EnqueueJobRequest) -> JobRequest:
    return JobRequest(
        job_type=message.job_type,
        payload=message.payload,
        priority=message.priority,
        delay=message.delay,
        max_retries=message.max_retries,
        retry_limit=message.retry_limit if message.HasField("retry_limit") else None,
        scheduled_at=message.scheduled_at,
        scheduled_in=message.scheduled_in,
        timeout=message.timeout_seconds,
        metadata=dict(message.metadata) if message.metadata else None,
        idempotency_key=message.idempotency_key,
        group=message.group,
    )


def job_status(value: str) -> JobStatus | None:
    if not value:
        return None
    try:
        return JobStatus(value)
    except ValueError:
        names = ", ".join(s.value for s in JobStatus)
        raise InvalidJob(
            f"status must be one of {names}, or empty for every state; got {quoted(value)}"
        ) from None


def queue_stats(view: QueueView) -> pb.QueueStats:
    stats = view.stats
    high, normal, low = stats.ready_by_priority
    return pb.QueueStats(
        job_type=stats.job_type,
        ready_high=high,
        ready_normal=normal,
        ready_low=low,
        scheduled=stats.scheduled,
        running=stats.running,
        dead=stats.dead,
        completed_last_minute=stats.completed_recently,
        dead_last_minute=stats.dead_recently,
        failure_rate=stats.failure_rate,
        paused=view.paused,
    )


def worker_info(consumer: Consumer) -> pb.WorkerInfo:
    return pb.WorkerInfo(
        worker_id=consumer.worker_id,
        job_types=sorted(consumer.job_types),
        max_in_flight=consumer.max_in_flight,
        in_flight_job_ids=sorted(consumer.held),
        connected_at=seconds(consumer.connected_at),
        last_seen_at=seconds(consumer.last_seen),
        peer=consumer.client,
    )


def selection(message: pb.DeadLetterSelection) -> DeadLetterSelection:
    return DeadLetterSelection(tuple(message.job_ids), message.job_type, message.all)


def ack_result(job: str, outcome: Outcome) -> pb.AckResult:
    if outcome.error is None:
        return pb.AckResult(job_id=job, success=True)
    return pb.AckResult(
        job_id=job, success=False, error_code=status_for(outcome.error).name, error_message=str(outcome.error)
    )


def job_id(value: str) -> str:
    if not value:
        raise InvalidJob("job_id must not be empty")
    return validate_id("job_id", value)


def lease_token(value: int) -> int | None:
    if not 0 <= value <= MAX_ATTEMPT:
        raise InvalidJob(
            f"lease_token must be 1 to {MAX_ATTEMPT} (0 = not given), as delivered with the job; got {value}"
        )
    return value or None


def ack(job: str, token: int, worker_id: str, result: str | None = None) -> Ack:
    return Ack(job_id(job), validate_worker_id(worker_id) or None, lease_token(token), result)


def completion(message: pb.CompleteJobRequest) -> Ack:
    result = message.result if message.HasField("result") else None
    return ack(message.job_id, message.lease_token, message.worker_id, result)


def failure(
    job: str, message: str, token: int, worker_id: str, retry: bool, retry_in: float | None = None
) -> Failure:
    worker = validate_worker_id(worker_id) or None
    return Failure(
        job_id(job),
        validate_text("error_message", message),
        worker,
        lease_token(token),
        retry,
        validate_retry_in(retry_in, retry),
    )


def failure_of(message: pb.FailJobRequest) -> Failure:
    retry_in = message.retry_in if message.HasField("retry_in") else None
    return failure(
        message.job_id,
        message.error_message,
        message.lease_token,
        message.worker_id,
        retry=not message.no_retry,
        retry_in=retry_in,
    )


def job_type_filter(value: str) -> str | None:
    """An optional job type to filter by: empty means every type."""
    return validate_job_type(value) if value else None


def schedule_request(message: pb.PutScheduleRequest) -> ScheduleRequest:
    job = message.job
    for name, given in (
        ("scheduled_at", job.scheduled_at),
        ("scheduled_in", job.scheduled_in),
        ("idempotency_key", job.idempotency_key),
    ):
        if given:
            raise InvalidJob(f"job.{name} must be empty in a schedule: each tick sets the job's own")
    return ScheduleRequest(
        name=message.name,
        job_type=job.job_type,
        payload=job.payload,
        cron=message.cron,
        every=_every(message.every_seconds),
        timezone=message.timezone,
        catch_up=message.catch_up if message.HasField("catch_up") else True,
        priority=job.priority,
        delay=job.delay,
        max_retries=job.max_retries,
        retry_limit=job.retry_limit if job.HasField("retry_limit") else None,
        timeout=job.timeout_seconds,
        metadata=dict(job.metadata),
        group=job.group,
    )


def _every(value: int) -> int:
    if value < 0:
        raise InvalidJob(f"every_seconds must be at least 1 (or 0 with a cron expression); got {value}")
    return value


def limit_to_pb(usage: LimitUsage) -> pb.LimitStatus:
    limit = usage.limit
    return pb.LimitStatus(
        job_type=limit.job_type,
        concurrency=limit.concurrency,
        rate=limit.rate,
        per=limit.per,
        burst=int(limit.bucket_size) if limit.rate else 0,
        running=usage.running,
        tokens=usage.tokens,
        group_concurrency=limit.group_concurrency,
    )


def schedule_to_pb(schedule: Schedule) -> pb.Schedule:
    return pb.Schedule(
        name=schedule.name,
        job_type=schedule.job_type,
        payload=schedule.payload,
        cron=schedule.rule.cron,
        every_seconds=schedule.rule.every,
        timezone=schedule.rule.timezone,
        catch_up=schedule.catch_up,
        paused=schedule.paused,
        next_run_at=0 if schedule.paused else seconds(schedule.next_due),
        last_run_at=seconds(schedule.last_run),
        priority=schedule.priority,
        delay=schedule.delay,
        max_retries=schedule.max_retries,
        timeout_seconds=schedule.timeout,
        metadata=json.loads(schedule.metadata) if schedule.metadata else None,
        created_at=seconds(schedule.created_at),
        updated_at=seconds(schedule.updated_at),
        group=schedule.group_key,
    )
