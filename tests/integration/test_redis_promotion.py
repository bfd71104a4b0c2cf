"""The Redis scheduler looks at the job types with entries due, not at every type ever seen."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from stackduck.adapters.redis.claimer import RedisClaimer
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.queue import RedisReadyQueue, held_member, ready_score
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.application.ids import JobIds
from stackduck.application.ports import Change, QueueEntry
from stackduck.domain.job import Job
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec
from tests.redis_server import private_redis


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server, decode_responses=True)
    yield connection
    await connection.aclose()


def new_job(job_type: str, run_at: float, now: float) -> Job:
    return Job.new(JobIds().new(now), JobSpec(job_type, "{}", 2, 30, 2, run_at), now)


def entry(job_type: str, run_at: float) -> QueueEntry:
    return QueueEntry.of(new_job(job_type, run_at, run_at))


async def scripts_run(connection: redis.Redis) -> int:
    stats = await connection.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_promotion_runs_for_the_types_due_only() -> None:
    now = time.time()
    with private_redis() as server:
        connection = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            queue = RedisReadyQueue(connection, Keys("p"))
            # A thousand types that once had jobs, all taken: none waits for its time.
            await queue.push([entry(f"old-{n}", now - 1) for n in range(1000)], now)
            assert len(await queue.pop([f"old-{n}" for n in range(1000)], now, 1000)) == 1000
            await queue.push([entry("later", now + 10), entry("later", now + 20)], now)
            await connection.config_resetstat()

            assert await queue.promote_due(now) == {}
            assert await queue.next_due() == pytest.approx(now + 10)
            assert await queue.promote_due(now + 10) == {"later": 1}
            assert await queue.next_due() == pytest.approx(now + 20)
            assert await queue.promote_due(now + 20) == {"later": 1}
            assert await queue.next_due() is None

            assert await scripts_run(connection) == 2  # one promotion per due type and time
        finally:
            await connection.aclose()


async def test_entries_scheduled_before_there_was_a_due_index_are_promoted(
    client: redis.Redis, redis_prefix: str
) -> None:
    keys, now = Keys(redis_prefix), time.time()
    queue = RedisReadyQueue(client, keys)
    await queue.push([entry("old", now + 5)], now)
    await client.delete(keys.due, keys.due_indexed)  # as data written before the index

    assert await queue.next_due() == pytest.approx(now + 5)
    assert await queue.promote_due(now + 5) == {"old": 1}
    assert await client.exists(keys.due_indexed)


async def test_every_write_of_a_scheduled_entry_marks_its_type_due(
    client: redis.Redis, redis_prefix: str
) -> None:
    keys, now = Keys(redis_prefix), time.time()
    store = RedisJobStore(client, keys)

    scheduled = new_job("inserted", now + 60, now)  # insert.lua
    await store.insert([scheduled])
    assert await client.zscore(keys.due, "inserted") == scheduled.run_at

    due = new_job("retried", now - 1, now)  # apply.lua: a failed attempt backs off
    await store.insert([due])
    [leased] = await RedisClaimer(client, keys).claim(["w"] * 1, ["retried"], now, 30)
    failed = leased.copy()
    failed.fail("w", leased.attempt, now, "boom", RetryPolicy(jitter=0.0), 0.0)
    assert await store.apply([Change(failed, leased.version)]) == [True]
    assert await client.zscore(keys.scheduled("retried"), held_member(QueueEntry.of(failed))) == failed.run_at
    assert await client.zscore(keys.due, "retried") == failed.run_at

    early = new_job("early", now + 3600, now)  # claim.lua: a ready entry not yet due goes back
    await store.insert([early])
    await client.zrem(keys.scheduled("early"), held_member(QueueEntry.of(early)))
    await client.zrem(keys.due, "early")
    await client.zadd(keys.ready("early"), {early.id: ready_score(QueueEntry.of(early))})
    assert await RedisClaimer(client, keys).claim(["w"] * 10, ["early"], now, 30) == []
    assert await client.zscore(keys.due, "early") == early.run_at

    # An earlier entry moves the mark earlier; a later one leaves it.
    queue = RedisReadyQueue(client, keys)
    await queue.push([entry("inserted", now + 30), entry("inserted", now + 90)], now)
    assert await client.zscore(keys.due, "inserted") == pytest.approx(now + 30)
