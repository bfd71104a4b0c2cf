"""What the Redis-alone adapter tests share: a client of their own, keys under the
test's prefix (deleted after it), and the store and limits over them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.limits import RedisLimits
from stackduck.adapters.redis.store import RedisJobStore


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server, decode_responses=True)
    yield connection
    await connection.aclose()


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


@pytest.fixture
def store(client: redis.Redis, keys: Keys) -> RedisJobStore:
    return RedisJobStore(client, keys)


@pytest.fixture
def limits(client: redis.Redis, keys: Keys) -> RedisLimits:
    return RedisLimits(client, keys)
