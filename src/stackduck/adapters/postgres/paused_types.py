"""Paused job types in PostgreSQL, shared by every server instance."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import sql


class PostgresPausedTypes:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    @translated
    async def paused(self) -> frozenset[str]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("paused/list"))
            return frozenset(row[0] for row in await cursor.fetchall())

    @translated
    async def set_paused(self, job_type: str, paused: bool) -> None:
        async with self._pool.connection() as conn:
            statement = sql("paused/pause") if paused else sql("paused/resume")
            await conn.execute(statement, {"job_type": job_type})
