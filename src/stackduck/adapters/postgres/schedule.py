"""Jobs scheduled for later on PostgreSQL: the jobs table is the queue (a queued row
is claimable once its time comes), so the scheduler asks which rows fell due since
it last looked, to wake their consumers, and when the next one does."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import sql


class PostgresSchedule:
    def __init__(self, pool: AsyncConnectionPool[Any], now: float) -> None:
        self._pool = pool
        self._horizon = now  # jobs due before this were ready for the claims that followed

    @translated
    async def promote_due(self, now: float) -> dict[str, int]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("became_due"), {"since": self._horizon, "now": now})
            rows = await cursor.fetchall()
        self._horizon = max(self._horizon, now)
        return dict(rows)

    @translated
    async def next_due(self) -> float | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("next_due"), {"after": self._horizon})
            row = await cursor.fetchone()
        return None if row is None else row[0]
