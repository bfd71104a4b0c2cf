"""What the client sends and gets back: typed values instead of wire messages."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

    @classmethod
    def from_pb(cls, job: pb.Job) -> JobInfo:
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
        )


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

    def to_pb(self) -> pb.EnqueueJobRequest:
        try:
            request = pb.EnqueueJobRequest(
                job_type=self.job_type,
                payload=encode_payload(self.payload),
                priority=self.priority or 0,
                delay=self.delay or 0,
                max_retries=self.max_retries or 0,
                scheduled_at=_rfc3339(self.scheduled_at),
                scheduled_in=_seconds(self.scheduled_in),
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


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # the server only stores JSON; keep whatever else came as text
        return text


def moment(seconds: int) -> datetime | None:
    """Wire seconds as an aware UTC datetime; 0 (unset) as None."""
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


def _seconds(span: float | timedelta | None) -> float:
    if span is None:
        return 0.0
    seconds = span.total_seconds() if isinstance(span, timedelta) else float(span)
    if not math.isfinite(seconds):
        raise ValueError(f"scheduled_in must be a finite number of seconds; got {span!r}")
    return seconds
