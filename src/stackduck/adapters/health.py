"""How each storage tier is doing, asked cheaply (one round trip per tier)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg

from stackduck.adapters.failover import FailoverReadyQueue
from stackduck.adapters.postgres.queries import sql
from stackduck.adapters.redis.queue import RedisReadyQueue
from stackduck.domain.errors import StorageUnavailable


class _Health(Protocol):
    async def check(self) -> dict[str, bool]: ...


class MemoryHealth:
    async def check(self) -> dict[str, bool]:
        return {"memory": True}


#: How long PostgreSQL may take to connect and answer the probe before it counts as down.
PROBE_TIMEOUT_SECONDS = 3.0
#: How long stopping waits for a probe still unwinding against a database that hangs.
STOP_WAIT_SECONDS = 1.0


class PostgresHealth:
    """Asks PostgreSQL over a connection of its own, not one from the pool: a server
    whose pool is busy with work (a thousand streams claiming at once) is not down,
    and must not report NOT_SERVING while it serves. The connection is opened on the
    first check and again after any failure. One probe runs at a time; whoever asks
    meanwhile (the gRPC reporter, ``/healthz``, the metrics scrape) shares its answer."""

    def __init__(self, conninfo: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
        self._conninfo = conninfo
        self._timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._probing: asyncio.Future[bool] | None = None
        self._unwinding: set[asyncio.Future[Any]] = set()

    async def check(self) -> dict[str, bool]:
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(self._probe())
        return {"postgres": await asyncio.shield(self._probing)}

    async def _probe(self) -> bool:
        conn, self._conn = self._conn, None
        asking = asyncio.ensure_future(self._ask(conn))
        done, _ = await asyncio.wait({asking}, timeout=self._timeout)
        if not done:
            # Cancelled, not awaited: psycopg answers a cancellation by asking the server
            # to cancel the query and waiting for that, seconds more against a database
            # that does not answer. The probe says "down" now; the task closes its
            # connection when it is through.
            asking.cancel()
            self._unwinding.add(asking)
            asking.add_done_callback(self._unwinding.discard)
            return False
        if asking.exception() is not None:  # any failure to answer is "down"
            return False
        self._conn = asking.result()
        return True

    async def _ask(self, conn: psycopg.AsyncConnection[Any] | None) -> psycopg.AsyncConnection[Any]:
        if conn is not None:
            try:
                await conn.execute(sql("health/probe"))
                return conn
            except psycopg.OperationalError:
                # Broken since the last check (a database restart, a dropped socket):
                # once more on a new connection before calling PostgreSQL down.
                await _close(conn)
            except BaseException:
                await _close(conn)
                raise
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, connect_timeout=max(1, math.ceil(self._timeout))
        )
        try:
            await conn.execute(sql("health/probe"))
        except BaseException:
            await _close(conn)
            raise
        return conn

    async def close(self) -> None:
        pending = [task for task in (self._probing, *self._unwinding) if task is not None and not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=STOP_WAIT_SECONDS)
        conn, self._conn = self._conn, None
        if conn is not None:
            await _close(conn)


async def _close(conn: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):
        await conn.close()


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
