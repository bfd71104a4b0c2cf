"""The charts' minutes in PostgreSQL, added to by every instance (stackduck_minutes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import sql
from stackduck.application.history import MinuteCounts


class PostgresHistory:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    @translated
    async def add(self, minutes: Sequence[MinuteCounts]) -> None:
        merged: dict[tuple[int, str], MinuteCounts] = {}
        for counts in minutes:  # one row per key: a statement may not update a row twice
            key = (counts.minute, counts.job_type)
            merged.setdefault(key, MinuteCounts(*key)).add(counts)
        rows = [
            {
                "minute": c.minute,
                "job_type": c.job_type,
                "enqueued": c.enqueued,
                "completed": c.completed,
                "retried": c.retried,
                "dead": c.dead,
                "runs": c.runs,
                "depth": c.depth,
                "oldest_wait": c.oldest_wait,
            }
            for c in merged.values()
        ]
        async with self._pool.connection() as conn:
            await conn.execute(sql("history/add"), {"minutes": json.dumps(rows)})

    @translated
    async def read(self, first: int, last: int, job_type: str | None) -> list[MinuteCounts]:
        async with self._pool.connection() as conn:
            params = {"first": first, "last": last, "job_type": job_type}
            cursor = await conn.execute(sql("history/read"), params)
            rows = await cursor.fetchall()
        # read.sql's columns, in its order
        return [
            MinuteCounts(minute, job_type, enqueued, completed, retried, dead, list(runs), depth, oldest_wait)
            for minute, job_type, enqueued, completed, retried, dead, runs, depth, oldest_wait in rows
        ]

    @translated
    async def prune(self, before: int) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("history/prune"), {"before": before})
            return int(cursor.rowcount)
