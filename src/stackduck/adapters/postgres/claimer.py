"""Claims on PostgreSQL: one statement picks and leases the best due jobs
(``FOR UPDATE SKIP LOCKED``), so any number of instances never share a job.

The statement locks more rows than it takes when several priorities or types have
jobs (one index scan each); a claim running meanwhile skips them and may come back
empty, its stream parked with jobs ready. What was passed over is announced as ready
once the statement has committed, so such a stream looks again at once rather than
at its idle re-check."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import JobColumns, sql
from stackduck.application.ports import Notifier
from stackduck.domain.job import Job

log = logging.getLogger(__name__)

#: claim.sql leases its n-th best job to the n-th owner listed.
OWNER_BY_SLOT = "%(owners)s::jsonb ->> candidates.slot::int"


class PostgresClaimer:
    def __init__(self, pool: AsyncConnectionPool[Any], notifier: Notifier) -> None:
        self._pool = pool
        self._notifier = notifier

    @translated
    async def claim(
        self, owners: Sequence[str], job_types: Collection[str], now: float, lease_seconds: float
    ) -> list[Job]:
        params = {
            "job_types": list(job_types),
            "now": now,
            "limit": len(owners),
            "owners": json.dumps(owners),
            "lease_seconds": lease_seconds,
        }
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("claim", OWNER_BY_SLOT), params)
            rows = await cursor.fetchall()
            columns = JobColumns(cursor)
        jobs = [columns.job(row) for row in rows]
        passed_over = rows[0][columns.at("locked")] - len(rows) if rows else 0
        if passed_over:
            # Which types they are, the statement does not say (that cost 5-20 % more
            # per claim): each type asked for may have some. The leases are committed: a
            # failed announcement must not lose them (the streams re-check anyway).
            try:
                await self._notifier.notify(dict.fromkeys(job_types, passed_over))
            except Exception as exc:
                log.warning("could not announce %d passed-over job(s): %s", passed_over, exc)
        return sorted(jobs, key=lambda job: job.ready_key)  # RETURNING keeps no order
