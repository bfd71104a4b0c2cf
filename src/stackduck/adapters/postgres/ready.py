"""The ready index on PostgreSQL: the jobs table already is the queue, so pushing
and removing are nothing to do; the scheduler asks which jobs fell due."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import sql
from stackduck.application.ports import QueueEntry


class PostgresReadyIndex:
    def __init__(self, pool: AsyncConnectionPool[Any], now: float) -> None:
        self._pool = pool
        self._horizon = now  # jobs due before this were ready for the claims that followed

    async def push(self, entries: Sequence[QueueEntry], now: float) -> None:
        """Queued rows are claimable as they are: nothing to write."""

    async def remove(self, entries: Sequence[QueueEntry]) -> None:
        """Cancelled rows are no longer queued: nothing to write."""

    @translated
    async def promote_due(self, now: float) -> dict[str, int]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("became_due"), {"since": self._horizon, "now": now})
            rows = await cursor.fetchall()
        self._horizon = max(self._horizon, now)
        return dict(rows)

    @translated
    async def next_due(self) -> float | None:
        query = b"SELECT min(run_at) FROM stackduck_jobs WHERE status = 'queued' AND run_at > %s"
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, (self._horizon,))
            row = await cursor.fetchone()
        return None if row is None else row[0]
