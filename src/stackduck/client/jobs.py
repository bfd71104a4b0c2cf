"""What the client sends and gets back: typed values instead of wire messages."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from stackduck.domain.errors import InvalidJob
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb

#: A payload: a JSON text sent as is, or a value serialised with ``json.dumps``.
Payload = str | Mapping[str, Any] | Sequence[Any] | int | float | bool | None


class JobStatus(StrEnum):
    """Job states on the wire (``proto/stackduck.proto``)."""

    QUEUED = "queued"  # waiting; scheduled when ``scheduled_at`` is in the future
    RUNNING = "running"  # leased to a worker
    COMPLETED = "completed"
    FAILED = "failed"  # dead-lettered
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Completed, failed (dead-lettered) or cancelled: the job changes no more
        (a dead letter only by an operator's re-queue)."""
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A job as the server reports it. Times are timezone-aware UTC datetimes, or
    None where the wire says 0 (never happened)."""

    id: str
    job_type: str
    payload: Any  # the payload parsed from JSON
    raw_payload: str  # the JSON text exactly as it was enqueued
    status: JobStatus
    priority: int
    retry_count: int  # failed attempts so far
    max_retries: int
    delay: int  # retry backoff base, seconds
    error_message: str | None  # the last failure's message
    scheduled_at: datetime | None  # when the job is (or was) due
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    lease_token: int  # the delivery's attempt number (0 = never delivered)
    worker_id: str | None  # who holds the lease (running jobs)
    lease_expires_at: datetime | None
    #: What the handler returned, parsed from JSON; None when the job has no result.
    result: Any = None
    raw_result: str | None = None  # the result's JSON text exactly as sent; None: no result
    #: The string pairs it was enqueued with (the trace context among them).
    metadata: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None  # run time allowed per attempt, seconds; None: no limit
    attempt_deadline: datetime | None = None  # when the running attempt times out
    attempts: tuple[AttemptInfo, ...] = ()  # the ended attempts, oldest first (the latest 20)
    idempotency_key: str | None = None  # as enqueued
    group: str | None = None  # the fair-queue group it was enqueued in

    @classmethod
    def from_pb(cls, job: pb.Job) -> JobInfo:
        raw_result = job.result if job.HasField("result") else None
        return cls(
            id=job.id,
            job_type=job.job_type,
            payload=_parse(job.payload),
            raw_payload=job.payload,
            status=JobStatus(job.status),
            priority=job.priority,
            retry_count=job.retry_count,
            max_retries=job.max_retries,
            delay=job.delay,
            error_message=job.error_message or None,
            scheduled_at=moment(job.scheduled_at),
            started_at=moment(job.started_at),
            completed_at=moment(job.completed_at),
            created_at=moment(job.created_at),
            updated_at=moment(job.updated_at),
            lease_token=job.lease_token,
            worker_id=job.worker_id or None,
            lease_expires_at=moment(job.lease_expires_at),
            result=None if raw_result is None else _parse(raw_result),
            raw_result=raw_result,
            metadata=dict(job.metadata),
            timeout=job.timeout_seconds or None,
            attempt_deadline=moment(job.attempt_deadline),
            attempts=tuple(AttemptInfo.from_pb(a) for a in job.attempts),
            idempotency_key=job.idempotency_key or None,
            group=job.group or None,
        )


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    """One ended attempt of a job, as the server keeps it."""

    number: int  # the attempt's lease token
    worker_id: str
    started_at: datetime | None
    ended_at: datetime | None
    #: completed, failed, timed_out, lease_expired, released (its stream closed) or cancelled
    outcome: str
    error: str | None  # the failure's message (at most 2,048 characters)

    @classmethod
    def from_pb(cls, attempt: pb.Attempt) -> AttemptInfo:
        return cls(
            number=attempt.number,
            worker_id=attempt.worker_id,
            started_at=moment(attempt.started_at),
            ended_at=moment(attempt.ended_at),
            outcome=attempt.outcome,
            error=attempt.error or None,
        )


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One message of ``watch(job_id)``: the job as it is after a change (the first
    event: as it was when the watch began)."""

    job: JobInfo

    @property
    def last(self) -> bool:
        """The job's last state (completed, failed, cancelled): the watch ends after it."""
        return self.job.status.finished


@dataclass(frozen=True, slots=True)
class JobStop:
    """A ``consume(..., stop_messages=True)`` message: stop working on delivery
    ``lease_token`` of job ``job_id`` and send no answer (it would be refused): the job
    was cancelled, or its attempt ran past its timeout. Ignore one whose job and token
    are not a delivery you still work on."""

    job_id: str
    lease_token: int
    reason: str  # "cancelled" or "timed_out"
    message: str  # for people: "cancelled while running", "timed out after 30 s"

    @classmethod
    def from_pb(cls, stop: pb.JobStop) -> JobStop:
        return cls(stop.job_id, stop.lease_token, stop.reason, stop.message)


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a listing (jobs, dead letters)."""

    jobs: tuple[JobInfo, ...]
    next_page_token: str | None  # None on the last page


#: The page ``list_dead_letters`` returns (the same shape as every listing).
DeadLetterPage = JobPage


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue. None means "the server's default" (priority 2, delay 30 s,
    2 retries, due now)."""

    job_type: str
    payload: Payload = "{}"
    priority: int | None = None  # 1 (high) to 3 (low)
    delay: int | None = None  # retry backoff base, seconds
    max_retries: int | None = None
    retry_limit: int | None = None  # exact retries, 0 allowed; overrides max_retries
    scheduled_at: datetime | str | None = None  # an aware datetime, or RFC 3339 text
    scheduled_in: float | timedelta | None = None  # seconds from now
    timeout: float | timedelta | None = None  # run time allowed per attempt; None: the server's default
    #: String pairs kept and delivered with the job (at most 64; keys of letters, digits, . _ -).
    metadata: Mapping[str, str] | None = None
    #: At most one job per (job_type, key) while it is kept (and a day at least): resend
    #: a job with the same key and the server answers the first one's id.
    idempotency_key: str | None = None
    #: The fair-queue group within the type: a type's groups take turns (ADR 0029).
    group: str | None = None

    def to_pb(self) -> pb.EnqueueJobRequest:
        try:
            request = pb.EnqueueJobRequest(
                job_type=self.job_type,
                payload=encode_payload(self.payload),
                priority=self.priority or 0,
                delay=self.delay or 0,
                max_retries=self.max_retries or 0,
                scheduled_at=_rfc3339(self.scheduled_at),
                scheduled_in=_seconds(self.scheduled_in, "scheduled_in"),
                timeout_seconds=_seconds(self.timeout, "timeout"),
                metadata=_metadata(self.metadata),
                idempotency_key=self.idempotency_key or "",
                group=self.group or "",
            )
            if self.retry_limit is not None:
                request.retry_limit = self.retry_limit
        except (TypeError, ValueError) as exc:  # out of the wire's range, or the wrong type
            raise InvalidJob(f"cannot send job {self.job_type!r}: {exc}") from exc
        return request


def encode_payload(payload: Payload) -> str:
    """A str is sent as is (the server checks that it is JSON); anything else is
    serialised with ``json.dumps`` (NaN and Infinity refused, as the server does)."""
    if isinstance(payload, str):
        return payload
    try:
        return json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"payload cannot be serialised as JSON: {exc}") from exc


def encode_result(result: Any) -> str | None:
    """What a handler returned, as the job's result: None is no result; anything else
    is serialised with ``json.dumps`` (a str too, as a JSON string: ``done`` is sent as
    ``"done"``). A value JSON cannot carry (NaN included) is :class:`InvalidJob`."""
    if result is None:
        return None
    try:
        return json.dumps(result, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidJob(
            f"the result cannot be serialised as JSON (return None for no result, or a value "
            f"json.dumps takes): {exc}"
        ) from exc


def parse_json(text: str) -> Any:
    """A JSON text the server stored (payload, result) as a value."""
    return _parse(text)


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # the server only stores JSON; keep whatever else came as text
        return text


def moment(seconds: float) -> datetime | None:
    """Wire seconds (whole, or with a fraction) as an aware UTC datetime; 0 (unset) as None."""
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def _rfc3339(when: datetime | str | None) -> str:
    if when is None:
        return ""
    if isinstance(when, str):
        return when
    if when.utcoffset() is None:
        raise ValueError(f"scheduled_at needs a timezone (a naive datetime is ambiguous): {when!r}")
    # In UTC: an offset with seconds (some historical zones) has no RFC 3339 form.
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _metadata(pairs: Mapping[str, str] | None) -> dict[str, str]:
    if pairs is None:
        return {}
    if not isinstance(pairs, Mapping):
        raise TypeError(f"metadata must be a mapping of str to str; got {type(pairs).__name__}")
    for key, value in pairs.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata maps str to str; got {key!r}: {value!r}")
    return dict(pairs)


def _seconds(span: float | timedelta | None, name: str) -> float:
    if span is None:
        return 0.0
    seconds = span.total_seconds() if isinstance(span, timedelta) else float(span)
    if not math.isfinite(seconds):
        raise ValueError(f"{name} must be a finite number of seconds; got {span!r}")
    return seconds
