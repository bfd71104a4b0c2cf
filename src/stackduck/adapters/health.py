"""How each storage tier is doing, asked cheaply (one round trip per tier)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.failover import FailoverReadyQueue
from stackduck.adapters.redis.queue import RedisReadyQueue
from stackduck.domain.errors import StorageUnavailable


class _Health(Protocol):
    async def check(self) -> dict[str, bool]: ...


class MemoryHealth:
    async def check(self) -> dict[str, bool]:
        return {"memory": True}


class PostgresHealth:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def check(self) -> dict[str, bool]:
        try:
            async with self._pool.connection(timeout=1.0) as conn:
                await conn.execute("SELECT 1")
        except Exception:  # any failure to answer is "down"
            return {"postgres": False}
        return {"postgres": True}


class RedisHealth:
    def __init__(self, queue: RedisReadyQueue) -> None:
        self._queue = queue

    async def check(self) -> dict[str, bool]:
        try:
            await self._queue.ping()
        except StorageUnavailable:
            return {"redis": False}
        return {"redis": True}


class FailoverHealth:
    """Redis counts as down while the queue is served from memory instead."""

    def __init__(self, queue: FailoverReadyQueue) -> None:
        self._queue = queue

    async def check(self) -> dict[str, bool]:
        return {"redis": not self._queue.degraded, "memory": True}


class TiersHealth:
    def __init__(self, parts: Sequence[_Health]) -> None:
        self._parts = parts

    async def check(self) -> dict[str, bool]:
        report: dict[str, bool] = {}
        for part in self._parts:
            report.update(await part.check())
        return report
