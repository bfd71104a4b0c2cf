"""Claims on PostgreSQL: one statement picks and leases the best due jobs
(``FOR UPDATE SKIP LOCKED``), so any number of instances never share a job."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import job_from_row, sql
from stackduck.domain.job import Job


class PostgresClaimer:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    @translated
    async def claim(
        self, worker_id: str, job_types: Collection[str], now: float, lease_seconds: float, limit: int
    ) -> list[Job]:
        params = {
            "job_types": list(job_types),
            "now": now,
            "limit": limit,
            "worker_id": worker_id,
            "lease_seconds": lease_seconds,
        }
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("claim"), params)
            jobs = [job_from_row(row) for row in await cursor.fetchall()]
        return sorted(jobs, key=lambda job: job.ready_key)  # RETURNING keeps no order
