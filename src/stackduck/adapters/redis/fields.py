"""A job as the fields of its Redis hash (Redis alone): every value a string, "" for none.

Written out field by field rather than looped over names: turning jobs into hash
values and back is per-job work on every insert, claim and completion, and the
generic loop was the largest share of the server's samples on Redis alone (py-spy,
see docs/performance.md). The store contract checks every field's round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackduck.domain.job import STATUS_OF, Job

#: The hash's fields, in the order of ``Job``'s fields after its id.
FIELDS = (
    "job_type", "payload", "priority", "delay", "max_retries", "status", "run_at", "created_at",
    "updated_at", "retry_count", "attempt", "error_message", "started_at", "completed_at",
    "lease_owner", "lease_expires_at", "version",
)  # fmt: skip
#: The fields a move may change (a change writes only these).
MUTABLE = (
    "status", "run_at", "updated_at", "retry_count", "attempt", "error_message", "started_at",
    "completed_at", "lease_owner", "lease_expires_at", "version",
)  # fmt: skip


def _time(value: float | None) -> str:
    return "" if value is None else repr(value)


def row(job: Job) -> list[str]:
    """The job's id, then its values in ``FIELDS`` order."""
    return [
        job.id, job.job_type, job.payload, str(job.priority), str(job.delay), str(job.max_retries),
        job.status.value, repr(job.run_at), repr(job.created_at), repr(job.updated_at),
        str(job.retry_count), str(job.attempt), job.error_message, _time(job.started_at),
        _time(job.completed_at), job.lease_owner or "", _time(job.lease_expires_at), str(job.version),
    ]  # fmt: skip


def mutable_row(job: Job, expected_version: int) -> list[str]:
    """The job's id, the version the change was made from, then its ``MUTABLE`` values."""
    return [
        job.id, str(expected_version), job.status.value, repr(job.run_at), repr(job.updated_at),
        str(job.retry_count), str(job.attempt), job.error_message, _time(job.started_at),
        _time(job.completed_at), job.lease_owner or "", _time(job.lease_expires_at), str(job.version),
    ]  # fmt: skip


def decode(job_id: str, v: Sequence[str | None]) -> Job:
    """A job from its values in ``FIELDS`` order (as HMGET or a script returns them);
    a required value missing (a damaged hash) raises instead of reading as zero."""
    return Job(
        job_id, v[0] or "", v[1] or "", int(v[2] or ""), int(v[3] or ""), int(v[4] or ""),
        STATUS_OF[v[5] or ""], float(v[6] or ""), float(v[7] or ""), float(v[8] or ""),
        int(v[9] or ""), int(v[10] or ""), v[11] or "", float(v[12]) if v[12] else None,
        float(v[13]) if v[13] else None, v[14] or None, float(v[15]) if v[15] else None,
        int(v[16] or ""),
    )  # fmt: skip
