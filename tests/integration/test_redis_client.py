"""The Redis client the backends open: once closed, it opens no connection again."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError

from stackduck.adapters.redis.client import open_client


async def test_a_closed_client_opens_no_connection(redis_server: str) -> None:
    async with open_client(redis_server, pool_size=4) as client:
        assert await client.ping()
    # A read that a departed caller left running, reaching Redis after the close.
    with pytest.raises(ConnectionError, match="closed"):
        await client.ping()


async def test_a_connection_still_held_does_not_reconnect_once_the_client_is_closed(
    redis_server: str,
) -> None:
    async with open_client(redis_server, pool_size=4) as client:
        pubsub = client.pubsub()
        await pubsub.subscribe("stackduck-test-closing")  # holds a connection of the pool
    # The subscription's next read would reconnect its connection by itself.
    with pytest.raises(ConnectionError, match="closed"):
        await pubsub.subscribe("stackduck-test-closing-again")
    await pubsub.aclose()
