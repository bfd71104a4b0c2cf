"""Reading the record straight from PostgreSQL, to check the books after a fault."""

from __future__ import annotations

import psycopg


async def books(url: str) -> tuple[dict[str, int], int]:
    """Count by status, and the total number of rows."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT status, count(*) FROM stackduck_jobs GROUP BY status")
        by_status = {status: int(n) for status, n in await cursor.fetchall()}
        cursor = await conn.execute("SELECT count(*) FROM stackduck_jobs")
        row = await cursor.fetchone()
    assert row is not None
    return by_status, int(row[0])
