"""Sample jobs for tests that read and write rows."""

from __future__ import annotations

from stackduck.domain.job import Attempt, Job, JobStatus


def distinct_job() -> Job:
    """A job whose every field holds a value no other field holds: a value read into
    another field's place shows."""
    return Job(
        id="0199aaaa-7d1e-7000-8000-000000000001",
        job_type="mail",
        payload='{"n": 1}',
        priority=2,
        delay=3,
        max_retries=4,
        status=JobStatus.RUNNING,
        run_at=5.5,
        created_at=6.5,
        updated_at=7.5,
        retry_count=8,
        attempt=9,
        error_message="ten",
        started_at=11.5,
        completed_at=12.5,
        lease_owner="w13",
        lease_expires_at=14.5,
        version=15,
        idempotency_key="k16",
        timeout=17.5,
        metadata='{"m":"18"}',
        result='"r19"',
        attempt_deadline=20.5,
        attempts=(Attempt(21, "w22", 23.5, 24.5, "failed", "e25"),),
    )
