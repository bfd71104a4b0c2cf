"""Redis alone: an idempotency key's hash has no expiry while its job is kept, and
expires at the end of its window once the job is deleted (at once if that passed)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.application.ids import JobIds
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.rules import JobSpec


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server, decode_responses=True)
    yield connection
    await connection.aclose()


def cancelled_job(key: str) -> Job:
    now = time.time()
    job = Job.new(JobIds().new(now), JobSpec("t", "{}", 2, 30, 2, now, idempotency_key=key), now)
    job.cancel(now)
    return job


async def test_a_key_expires_only_once_its_job_is_gone_and_at_its_windows_end(
    client: redis.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    store = RedisJobStore(client, keys)
    kept, late = cancelled_job("kept"), cancelled_job("late")
    assert await store.insert([kept], 60) == [kept.id]
    assert await store.insert([late], 0) == [late.id]
    held, over = keys.idempotency("t", "kept"), keys.idempotency("t", "late")
    assert await client.hgetall(held) == {"job": kept.id, "until": repr(kept.created_at + 60)}
    assert await client.pttl(held) == -1 and await client.pttl(over) == -1  # kept: no expiry

    assert await store.delete([kept.id, late.id], [JobStatus.CANCELLED]) == 2

    assert 55_000 < await client.pttl(held) <= 60_000
    assert not await client.exists(over)  # its window had passed: gone with its job
