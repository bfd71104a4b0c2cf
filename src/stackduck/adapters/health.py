"""How each storage tier is doing, asked cheaply (one round trip per tier)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import psycopg

from stackduck.adapters.failover import FailoverReadyQueue
from stackduck.adapters.redis.queue import RedisReadyQueue
from stackduck.domain.errors import StorageUnavailable


class _Health(Protocol):
    async def check(self) -> dict[str, bool]: ...


class MemoryHealth:
    async def check(self) -> dict[str, bool]:
        return {"memory": True}


#: How long PostgreSQL may take to connect and answer the probe before it counts as down.
PROBE_TIMEOUT_SECONDS = 3.0


class PostgresHealth:
    """Asks PostgreSQL over a connection of its own, not one from the pool: a server
    whose pool is busy with work (a thousand streams claiming at once) is not down,
    and must not report NOT_SERVING while it serves. The connection is opened on the
    first check and again after any failure."""

    def __init__(self, conninfo: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
        self._conninfo = conninfo
        self._timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()  # the gRPC reporter, /healthz and the scrape may ask at once

    async def check(self) -> dict[str, bool]:
        async with self._lock:
            try:
                async with asyncio.timeout(self._timeout):
                    await self._ask()
            except Exception:  # any failure to answer in time is "down"
                await self.close()
                return {"postgres": False}
            return {"postgres": True}

    async def _ask(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                # Broken since the last check (a database restart, a dropped socket):
                # once more on a new connection before calling PostgreSQL down.
                await self.close()
        self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        await self._conn.execute("SELECT 1")

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


async def open_postgres_health(conninfo: str) -> AsyncIterator[PostgresHealth]:
    """The probe as a resource: its connection closes when the server stops."""
    health = PostgresHealth(conninfo)
    try:
        yield health
    finally:
        await health.close()


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
