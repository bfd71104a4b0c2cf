"""Paused job types in PostgreSQL, shared by every server instance."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated


class PostgresSwitches:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    @translated
    async def paused(self) -> frozenset[str]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute("SELECT job_type FROM stackduck_paused")
            return frozenset(row[0] for row in await cursor.fetchall())

    @translated
    async def set_paused(self, job_type: str, paused: bool) -> None:
        async with self._pool.connection() as conn:
            if paused:
                await conn.execute(
                    "INSERT INTO stackduck_paused (job_type) VALUES (%s) ON CONFLICT DO NOTHING", (job_type,)
                )
            else:
                await conn.execute("DELETE FROM stackduck_paused WHERE job_type = %s", (job_type,))
