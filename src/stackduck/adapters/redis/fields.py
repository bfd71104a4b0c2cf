"""A job as the fields of its Redis hash (Redis alone): every value a string, "" for none.

Written out field by field rather than looped over names: turning jobs into hash
values and back is per-job work on every insert, claim and completion, and the
generic loop was the largest share of the server's samples on Redis alone (py-spy,
see docs/performance.md). The store contract checks every field's round trip.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from stackduck.domain.job import STATUS_OF, Attempt, Job

#: The hash's fields, in the order of ``Job``'s fields after its id.
FIELDS = (
    "job_type", "payload", "priority", "delay", "max_retries", "status", "run_at", "created_at",
    "updated_at", "retry_count", "attempt", "error_message", "started_at", "completed_at",
    "lease_owner", "lease_expires_at", "version", "idempotency_key", "timeout", "metadata", "result",
    "attempt_deadline", "attempts", "group_key",
)  # fmt: skip
#: The fields a move may change (a change writes only these).
MUTABLE = (
    "status", "run_at", "updated_at", "retry_count", "attempt", "error_message", "started_at",
    "completed_at", "lease_owner", "lease_expires_at", "version", "result", "attempt_deadline",
    "attempts",
)  # fmt: skip


def _time(value: float | None) -> str:
    return "" if value is None else repr(value)


def attempts_text(attempts: tuple[Attempt, ...]) -> str:
    """The ended attempts as the hash keeps them: a JSON array whose times are strings
    (exact through a script's cjson, which keeps 14 digits of a number), "" for none."""
    if not attempts:
        return ""
    return json.dumps(
        [{**a.as_dict(), "started_at": repr(a.started_at), "ended_at": repr(a.ended_at)} for a in attempts],
        separators=(",", ":"),
    )


def attempts_of(text: str | None) -> tuple[Attempt, ...]:
    return tuple(map(Attempt.from_dict, json.loads(text))) if text else ()


def row(job: Job) -> list[str]:
    """The job's id, then its values in ``FIELDS`` order."""
    return [
        job.id, job.job_type, job.payload, str(job.priority), str(job.delay), str(job.max_retries),
        job.status.value, repr(job.run_at), repr(job.created_at), repr(job.updated_at),
        str(job.retry_count), str(job.attempt), job.error_message, _time(job.started_at),
        _time(job.completed_at), job.lease_owner or "", _time(job.lease_expires_at), str(job.version),
        job.idempotency_key, repr(job.timeout), job.metadata, job.result or "",
        _time(job.attempt_deadline), attempts_text(job.attempts), job.group_key,
    ]  # fmt: skip


def mutable_row(job: Job, expected_version: int) -> list[str]:
    """The job's id, the version the change was made from, then its ``MUTABLE`` values."""
    return [
        job.id, str(expected_version), job.status.value, repr(job.run_at), repr(job.updated_at),
        str(job.retry_count), str(job.attempt), job.error_message, _time(job.started_at),
        _time(job.completed_at), job.lease_owner or "", _time(job.lease_expires_at), str(job.version),
        job.result or "", _time(job.attempt_deadline), attempts_text(job.attempts),
    ]  # fmt: skip


def decode(job_id: str, values: Sequence[str | None]) -> Job:
    """A job from its hash's values in ``FIELDS`` order (as HMGET or a script returns them);
    a required value missing (a damaged hash) raises instead of reading as zero.

    The one place a job's values are taken by position: unpacked in ``FIELDS`` order,
    the Job then built by field name. Zipping them with ``FIELDS`` into a dict read by
    name cost 3.8-3.9 µs per job against 2.6 this way (1.8-1.9 with Job built by
    position too; ``scripts/bench_rows.py``, 1,000 jobs), and a job is read twice (its
    claim, its completion) for ~70 µs of server CPU in all: +5.7 % against +2 %.
    tests/unit/adapters/test_rows_by_name.py holds this order to ``FIELDS``.
    """
    (
        job_type, payload, priority, delay, max_retries, status, run_at, created_at, updated_at,
        retry_count, attempt, error_message, started_at, completed_at, lease_owner, lease_expires_at,
        version, idempotency_key, timeout, metadata, result, attempt_deadline, attempts, group_key,
    ) = values  # fmt: skip
    return Job(
        id=job_id,
        job_type=job_type or "",
        payload=payload or "",
        priority=int(priority or ""),
        delay=int(delay or ""),
        max_retries=int(max_retries or ""),
        status=STATUS_OF[status or ""],
        run_at=float(run_at or ""),
        created_at=float(created_at or ""),
        updated_at=float(updated_at or ""),
        retry_count=int(retry_count or ""),
        attempt=int(attempt or ""),
        error_message=error_message or "",
        started_at=float(started_at) if started_at else None,
        completed_at=float(completed_at) if completed_at else None,
        lease_owner=lease_owner or None,
        lease_expires_at=float(lease_expires_at) if lease_expires_at else None,
        version=int(version or ""),
        # Fields a job stored before they existed lacks: read as their defaults.
        idempotency_key=idempotency_key or "",
        timeout=float(timeout) if timeout else 0.0,
        metadata=metadata or "",
        result=result or None,
        attempt_deadline=float(attempt_deadline) if attempt_deadline else None,
        attempts=attempts_of(attempts),
        group_key=group_key or "",
    )
