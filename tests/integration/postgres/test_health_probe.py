"""The PostgreSQL health probe asks the database, not the pool: a server whose every
pooled connection is busy still reports PostgreSQL up, a broken probe connection is
replaced within one check, and an unreachable database is reported down."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.health import PostgresHealth
from stackduck.adapters.postgres.queries import sql
from stackduck.container import build_container, close_resources, provide
from stackduck.settings import Settings
from tests.proxy import Proxy


async def test_a_busy_pool_is_not_a_database_down(postgres: str) -> None:
    container = build_container(
        Settings(SERVER_ADDR="127.0.0.1:0", DATABASE_URL=postgres, STACKDUCK_DATABASE_POOL_SIZE=2)
    )
    try:
        pool: AsyncConnectionPool[Any] = (await provide(container.backend)).pool
        health = await provide(container.storage_health)
        held = [await pool.getconn() for _ in range(pool.max_size)]  # every request's connection busy
        try:
            assert await asyncio.wait_for(health.check(), 10) == {"postgres": True}
        finally:
            for conn in held:
                await pool.putconn(conn)
    finally:
        await close_resources(container)


async def test_a_broken_probe_connection_is_replaced_within_one_check(postgres: str) -> None:
    health = PostgresHealth(postgres)
    try:
        assert await health.check() == {"postgres": True}
        async with await psycopg.AsyncConnection.connect(postgres, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query = %s AND datname = current_database() AND pid <> pg_backend_pid()",
                (sql("health/probe").decode(),),
            )
        assert await health.check() == {"postgres": True}
    finally:
        await health.close()


async def test_an_unreachable_database_is_down_and_back_up_once_it_answers(
    proxied: str, proxy: Proxy
) -> None:
    health = PostgresHealth(proxied, timeout=2.0)
    try:
        assert await health.check() == {"postgres": True}
        await proxy.cut()
        assert await health.check() == {"postgres": False}
        await proxy.restore()
        assert await health.check() == {"postgres": True}
    finally:
        await health.close()


async def test_a_database_that_stops_answering_is_down_within_the_timeout(proxied: str, proxy: Proxy) -> None:
    """Not after psycopg's own cancellation of the query (seconds more against a peer that
    does not answer), and every caller asking meanwhile shares the one probe's answer."""
    health = PostgresHealth(proxied, timeout=1.0)
    try:
        assert await health.check() == {"postgres": True}
        proxy.stall()
        started = time.monotonic()
        answers = await asyncio.gather(*(health.check() for _ in range(3)))
        took = time.monotonic() - started
        assert answers == [{"postgres": False}] * 3
        assert took < 5, f"the probe took {took:.1f} s with a 1 s timeout"  # 11-13 s before
        proxy.stall(False)
        assert await health.check() == {"postgres": True}
    finally:
        await health.close()
