"""The Redis ready queue checked against the record: restore.lua puts back only what is
missing, and a sweep walks the record at its pace and wakes the consumers of what it
put back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from stackduck.adapters.memory import MemoryJobStore, MemoryNotifier
from stackduck.adapters.reconcile import SWEEP_PAGE, Reconciler, SweepPace
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.queue import RedisReadyQueue, held_member, ready_score
from stackduck.application.ids import JobIds
from stackduck.application.ports import QueueEntry
from stackduck.domain.job import Job
from stackduck.domain.rules import JobSpec

NOW = 1_800_000_000.0


class FixedClock:
    def now(self) -> float:
        return NOW


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server, decode_responses=True)
    yield connection
    await connection.aclose()


def new_job(ids: JobIds, run_at: float, job_type: str = "t", priority: int = 2) -> Job:
    return Job.new(ids.new(NOW), JobSpec(job_type, "{}", priority, 30, 2, run_at), NOW)


async def sets(client: redis.Redis, keys: Keys, job_type: str = "t") -> tuple[dict[str, float], ...]:
    ready = dict(await client.zrange(keys.ready(job_type), 0, -1, withscores=True))
    scheduled = dict(await client.zrange(keys.scheduled(job_type), 0, -1, withscores=True))
    return ready, scheduled


async def test_restore_adds_only_the_entries_of_jobs_redis_has_no_entry_for(
    client: redis.Redis, redis_prefix: str
) -> None:
    keys, ids = Keys(redis_prefix), JobIds()
    queue = RedisReadyQueue(client, keys)
    due, waiting = QueueEntry.of(new_job(ids, NOW - 5)), QueueEntry.of(new_job(ids, NOW + 60))
    lost_due = QueueEntry.of(new_job(ids, NOW - 1, priority=1))
    lost_waiting = QueueEntry.of(new_job(ids, NOW + 30, job_type="other"))
    # Due by the record's clock, still in the scheduled set (not yet promoted): it has an entry.
    unpromoted = QueueEntry.of(new_job(ids, NOW - 2))
    await queue.push([due, waiting], NOW)
    await queue.push([unpromoted], NOW - 10)
    before = await sets(client, keys)

    restored = await queue.restore([due, waiting, lost_due, lost_waiting, unpromoted], NOW)

    assert restored == [lost_due, lost_waiting]
    ready, scheduled = await sets(client, keys)
    assert ready == {**before[0], lost_due.job_id: ready_score(lost_due)}
    assert scheduled == before[1]  # the unpromoted entry was not duplicated into the ready set
    assert await sets(client, keys, "other") == ({}, {held_member(lost_waiting): lost_waiting.run_at})
    assert set(await client.smembers(keys.types)) == {"t", "other"}
    # Idempotent: again, nothing is missing.
    assert await queue.restore([due, waiting, lost_due, lost_waiting, unpromoted], NOW) == []
    assert await sets(client, keys) == (ready, scheduled)


async def test_a_sweep_walks_the_record_at_its_pace_and_wakes_consumers(
    client: redis.Redis, redis_prefix: str
) -> None:
    keys, ids = Keys(redis_prefix), JobIds()
    queue = RedisReadyQueue(client, keys)
    store, notifier = MemoryJobStore(), MemoryNotifier()
    jobs = [new_job(ids, NOW - 1) for _ in range(2 * SWEEP_PAGE + 500)]
    await store.insert(jobs)
    await queue.push([QueueEntry.of(job) for job in jobs[:SWEEP_PAGE]], NOW)  # the rest is lost
    pace = SweepPace(every_seconds=300, jobs_per_second=4 * SWEEP_PAGE)  # a page every 0.25 s
    reconciler = Reconciler(queue, store, FixedClock(), notifier, pace, lambda: True)
    waiter = notifier.listen(["t"])

    started = time.perf_counter()
    restored = await reconciler.sweep("test")
    took = time.perf_counter() - started

    assert restored == SWEEP_PAGE + 500
    assert took >= 0.5  # three pages, two gaps between them
    assert await client.zcard(keys.ready("t")) == len(jobs)
    assert waiter.woken
    waiter.close()
    assert await reconciler.sweep("again") == 0
    assert reconciler.sweeps == 2


async def test_no_sweep_while_the_queue_is_served_from_memory(client: redis.Redis, redis_prefix: str) -> None:
    keys, ids = Keys(redis_prefix), JobIds()
    queue, store = RedisReadyQueue(client, keys), MemoryJobStore()
    await store.insert([new_job(ids, NOW - 1)])
    reconciler = Reconciler(queue, store, FixedClock(), MemoryNotifier(), SweepPace(), lambda: False)

    assert await reconciler.sweep("degraded") == 0
    assert await client.zcard(keys.ready("t")) == 0
