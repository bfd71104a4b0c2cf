"""Redis alone: claims in one script (clocks that disagree, more claims than connections),
and the store keeping each job's queue entry with its write."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from stackduck.adapters.redis.claimer import RedisClaimer
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.queue import held_member, ready_score
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.application.ids import JobIds
from stackduck.application.ports import Change, QueueEntry
from stackduck.container import build_container, close_resources, provide
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec
from stackduck.settings import Settings


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server, decode_responses=True)
    yield connection
    await connection.aclose()


def new_job(run_at: float) -> Job:
    return Job.new(JobIds().new(run_at), JobSpec("t", "{}", 2, 30, 2, run_at), run_at)


async def test_an_entry_pushed_by_a_clock_ahead_of_the_callers_is_leased_at_redis_time(
    client: redis.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    job = new_job(time.time() - 1)
    await RedisJobStore(client, keys).insert([job])
    await client.zadd(keys.ready("t"), {job.id: ready_score(QueueEntry.of(job))})

    before = time.time()
    [leased] = await RedisClaimer(client, keys).claim(["w"] * 10, ["t"], job.run_at - 60, 30)

    assert leased.status is JobStatus.RUNNING
    assert leased.started_at is not None and before <= leased.started_at <= time.time()
    assert leased.lease_expires_at == leased.started_at + 30


async def test_a_ready_entry_of_a_job_not_yet_due_goes_back_to_its_schedule(
    client: redis.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    later = new_job(time.time() + 3600)
    await RedisJobStore(client, keys).insert([later])
    await client.zadd(keys.ready("t"), {later.id: ready_score(QueueEntry.of(later))})

    assert await RedisClaimer(client, keys).claim(["w"] * 10, ["t"], time.time(), 30) == []

    assert await client.zcard(keys.ready("t")) == 0
    assert await client.zscore(keys.scheduled("t"), held_member(QueueEntry.of(later))) == later.run_at
    stored = await RedisJobStore(client, keys).get([later.id])
    assert stored[later.id].status is JobStatus.QUEUED and stored[later.id].version == later.version


async def test_a_damaged_hash_met_late_in_a_claim_leaves_the_jobs_leased_before_it_whole(
    client: redis.Redis, redis_prefix: str
) -> None:
    """Indexes are written at the end of the claim script: nothing met after the first
    lease may make it fail halfway (here a job not yet due whose hash lost its priority)."""
    keys = Keys(redis_prefix)
    store = RedisJobStore(client, keys)
    now = time.time()
    first, later = new_job(now - 10), new_job(now + 3600)
    await store.insert([first, later])
    await client.zadd(keys.ready("t"), {later.id: ready_score(QueueEntry.of(first)) + 1})  # after first
    await client.hdel(keys.job(later.id), "priority")

    [leased] = await RedisClaimer(client, keys).claim(["w"] * 10, ["t"], now, 30)

    assert leased.id == first.id
    assert await client.zscore(keys.leases, first.id) == leased.lease_expires_at
    assert await client.zscore(keys.status(JobStatus.RUNNING), first.id) == 0
    assert await client.zscore(keys.status(JobStatus.QUEUED), first.id) is None
    assert await client.zscore(keys.scheduled("t"), f"2|{later.id}") == later.run_at  # its ready score's


async def test_more_concurrent_commands_than_pooled_connections_wait_their_turn(
    redis_server: str, redis_prefix: str
) -> None:
    settings = Settings(
        REDIS_URL=redis_server, STACKDUCK_REDIS_PREFIX=redis_prefix, STACKDUCK_REDIS_POOL_SIZE=2
    )
    container = build_container(settings)
    try:
        claimer = await provide(container.claimer)
        claims = [claimer.claim([f"w{n}"] * 1, ["t"], time.time(), 30) for n in range(40)]
        assert await asyncio.gather(*claims) == [[]] * 40
    finally:
        await close_resources(container)


async def test_the_store_keeps_each_jobs_queue_entry_in_the_same_call_as_its_write(
    client: redis.Redis, redis_prefix: str
) -> None:
    keys, policy = Keys(redis_prefix), RetryPolicy(jitter=0.0)
    store = RedisJobStore(client, keys)
    first, second = new_job(time.time() - 1), new_job(time.time() - 1)
    await store.insert([first, second])
    assert await client.zscore(keys.ready("t"), first.id) == ready_score(QueueEntry.of(first))

    [leased] = await RedisClaimer(client, keys).claim(["w"] * 1, ["t"], time.time(), 30)
    doomed = second if leased.id == first.id else first
    cancelled = doomed.copy()
    cancelled.cancel(time.time())
    failed = leased.copy()
    failed.fail("w", leased.attempt, time.time(), "boom", policy, 0.0)
    changes = [Change(cancelled, doomed.version), Change(failed, leased.version)]
    assert await store.apply(changes) == [True, True]

    assert await client.zcard(keys.ready("t")) == 0
    assert await client.zscore(keys.scheduled("t"), held_member(QueueEntry.of(failed))) == failed.run_at
