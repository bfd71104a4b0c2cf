"""Paused job types in the SQLite file."""

from __future__ import annotations

from stackduck.adapters.sqlite.database import Database


class SqlitePausedTypes:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def paused(self) -> frozenset[str]:
        rows = await self._db.read(
            lambda conn: conn.execute("SELECT job_type FROM stackduck_paused").fetchall()
        )
        return frozenset(job_type for (job_type,) in rows)

    async def set_paused(self, job_type: str, paused: bool) -> None:
        statement = (
            "INSERT INTO stackduck_paused (job_type) VALUES (?) ON CONFLICT DO NOTHING"
            if paused
            else "DELETE FROM stackduck_paused WHERE job_type = ?"
        )
        await self._db.write(lambda conn: conn.execute(statement, (job_type,)).rowcount)
