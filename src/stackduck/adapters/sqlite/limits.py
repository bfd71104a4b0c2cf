"""Limits and groups on SQLite: the limits and their buckets in the file, counted as the
memory configuration counts them (the running jobs from the store's own counts, the
groups' turns in the queue). One process owns the file, so a lock held across a limited
claim's count, starts and spend makes it one step, as the memory configuration's lack of
an await does; the buckets spent are written before the lock is let go."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Collection

from stackduck.adapters.memory.limits import MemoryLimits
from stackduck.adapters.memory.queue import MemoryReadyQueue
from stackduck.adapters.sqlite.database import Database
from stackduck.adapters.sqlite.store import SqliteJobStore
from stackduck.application.limits import LimitedClaim
from stackduck.application.queue_claimer import QueueClaimer
from stackduck.domain.limits import Bucket, Limit

UPSERT = (
    "INSERT INTO stackduck_limits (job_type, concurrency, rate, per, burst, group_concurrency, tokens, "
    "counted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_type) DO UPDATE SET "
    "concurrency = excluded.concurrency, rate = excluded.rate, per = excluded.per, "
    "burst = excluded.burst, group_concurrency = excluded.group_concurrency, tokens = excluded.tokens, "
    "counted_at = excluded.counted_at"
)


class SqliteLimits(MemoryLimits):
    def __init__(
        self, database: Database, store: SqliteJobStore, queue: MemoryReadyQueue, claimer: QueueClaimer
    ) -> None:
        super().__init__(store, queue, claimer)
        self._db = database
        self._claiming = asyncio.Lock()

    async def load(self) -> None:
        """The limits and buckets the file holds (at start)."""
        statement = (
            "SELECT job_type, concurrency, rate, per, burst, group_concurrency, tokens, counted_at "
            "FROM stackduck_limits"
        )
        for job_type, concurrency, rate, per, burst, group, tokens, at in await self._db.read(
            lambda conn: conn.execute(statement).fetchall()
        ):
            self._limits[job_type] = Limit(job_type, concurrency, rate, per, burst, group)
            if tokens is not None:
                self._buckets[job_type] = Bucket(tokens, at)

    async def put(self, limit: Limit, now: float) -> None:
        async with self._claiming:
            await super().put(limit, now)
            await self._save([limit.job_type])

    async def remove(self, job_type: str) -> bool:
        async with self._claiming:
            removed = await super().remove(job_type)
            statement = "DELETE FROM stackduck_limits WHERE job_type = ?"
            await self._db.write(lambda conn: conn.execute(statement, (job_type,)).rowcount)
            return removed

    async def claim(
        self,
        worker_id: str,
        job_types: Collection[str],
        limited: Collection[str],
        grouped: Collection[str],
        now: float,
        lease_seconds: float,
        limit: int,
    ) -> LimitedClaim:
        async with self._claiming:
            claimed = await super().claim(worker_id, job_types, limited, grouped, now, lease_seconds, limit)
            spent = [t for t in limited if t in self._buckets]
            if spent and claimed.jobs:
                await self._save(spent)
            return claimed

    async def _save(self, job_types: list[str]) -> None:
        rows = []
        for job_type in job_types:
            limit = self._limits.get(job_type)
            if limit is None:
                continue
            bucket = self._buckets.get(job_type)
            rows.append(
                (
                    job_type, limit.concurrency, limit.rate, limit.per, limit.burst, limit.group_concurrency,
                    None if bucket is None else bucket.tokens, None if bucket is None else bucket.at,
                )
            )  # fmt: skip

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(UPSERT, rows)

        if rows:
            await self._db.write(write)
