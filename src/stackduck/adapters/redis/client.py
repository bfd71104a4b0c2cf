"""The Redis client, a context the Redis backends open and close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
from redis.asyncio.connection import Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError

from stackduck.adapters.redis.errors import UNAVAILABLE, unavailable

#: How long one command may take before Redis counts as failing.
SOCKET_TIMEOUT_SECONDS = 1.0
#: How long a command waits for a free connection before UNAVAILABLE (as with Postgres).
CHECKOUT_TIMEOUT_SECONDS = 5.0

Client = redis.Redis


class ClosablePool(redis.BlockingConnectionPool):
    """A blocking pool that, once closed, opens no connection again. Work still under
    way as the server stops (a read a departed caller left running) then fails, instead
    of opening a socket that outlives the client and its event loop."""

    closed = False

    async def get_connection(self, *args: Any, **kwargs: Any) -> Connection:
        if self.closed:
            raise ConnectionError("the Redis client is closed")
        connection: Connection = await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        if self.closed:  # closed while this one was connecting: it is closed too
            await connection.disconnect()
            raise ConnectionError("the Redis client is closed")
        return connection

    async def close(self) -> None:
        self.closed = True
        # A connection someone still holds (a pub/sub subscription being torn down)
        # reconnects by itself on its next command; once closed, it may not.
        for connection in (*self._available_connections, *self._in_use_connections):
            connection.connect_check_health = _refuse  # type: ignore[method-assign]
        await self.disconnect()


async def _refuse(*args: Any, **kwargs: Any) -> None:
    raise ConnectionError("the Redis client is closed")


def check_redis_url(url: str) -> None:
    """ValueError (redis-py's words) unless redis-py can read the URL."""
    parse_url(url)


@asynccontextmanager
async def open_client(url: str, pool_size: int) -> AsyncIterator[Client]:
    # A blocking pool: with every connection busy (a thousand streams claiming at once),
    # a command waits its turn instead of failing with "Too many connections".
    pool = ClosablePool.from_url(
        url,
        max_connections=pool_size,
        timeout=CHECKOUT_TIMEOUT_SECONDS,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        # One retry, on a broken connection only (a pooled connection to a Redis that
        # restarted: the command never reached the new server). Never on a timeout: a
        # script that timed out here may have run there, and a pop or a compare-and-set
        # must not run twice.
        retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        health_check_interval=10,
    )
    client = redis.Redis.from_pool(pool)
    try:
        yield client
    finally:
        try:
            await pool.close()
            await client.aclose()
        except UNAVAILABLE as exc:  # pragma: no cover - closing a dead link
            raise unavailable(exc) from exc
