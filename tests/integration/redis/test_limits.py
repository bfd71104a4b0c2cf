"""Redis alone: limits as Redis keeps them. Setting a limit counts the jobs already running
(rebuilding a running set that is missing or damaged); a limited claim caps each type and
lets the others go on in queue order; the bucket is stored exactly and follows the limit."""

from __future__ import annotations

import time

import redis.asyncio as redis

from stackduck.adapters.redis.claimer import RedisClaimer
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.limits import RedisLimits
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.application.ids import JobIds
from stackduck.application.moves import apply_moves
from stackduck.domain.job import Job
from stackduck.domain.limits import Bucket, Limit
from stackduck.domain.rules import JobSpec

NOW = 1_700_000_000.0  # behind Redis's clock: claims lease at Redis's time
LEASE = 60.0


def new_jobs(job_type: str, n: int, priority: int = 2, ids: JobIds | None = None) -> list[Job]:
    ids = ids or JobIds()
    return [
        Job.new(ids.new(NOW), JobSpec(job_type, "{}", priority, 0, 2, NOW - 100 + i / 1000), NOW)
        for i in range(n)
    ]


async def bucket(client: redis.Redis, keys: Keys) -> tuple[float, float]:
    """The stored bucket of "api": its tokens and their time, as the numbers they are."""
    tokens, at = await client.hmget(keys.limit("api"), "tokens", "at")
    return float(tokens), float(at)


async def running(limits: RedisLimits, job_type: str) -> int:
    return {u.limit.job_type: u.running for u in await limits.usage(time.time())}[job_type]


async def test_put_rebuilds_a_running_set_missing_or_damaged_from_the_running_jobs(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits
) -> None:
    await store.insert([*new_jobs("mail", 5), *new_jobs("other", 2)])
    leased = await RedisClaimer(client, keys).claim(["w"] * 10, ["mail", "other"], NOW, LEASE)
    mail = {job.id for job in leased if job.job_type == "mail"}
    assert len(mail) == 5

    # As data written before the sets were kept: none at all.
    await client.delete(keys.running("mail"), keys.running("other"))
    await limits.put(Limit.of("mail", concurrency=6), NOW)
    assert await client.smembers(keys.running("mail")) == mail
    assert await client.exists(keys.running("other")) == 0  # only the limited type's
    assert len((await limits.claim("w", ["mail"], ["mail"], [], NOW, LEASE, 10)).jobs) == 0  # none queued
    assert await running(limits, "mail") == 5

    # Damaged: a job that is not running, and a running one missing.
    await client.sadd(keys.running("mail"), "not-a-job")
    await client.srem(keys.running("mail"), sorted(mail)[0])
    await limits.put(Limit.of("mail", concurrency=6), NOW)
    assert await client.smembers(keys.running("mail")) == mail


async def test_jobs_started_before_the_limit_hold_the_next_claims_back(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits
) -> None:
    await store.insert(new_jobs("mail", 6))
    assert len(await RedisClaimer(client, keys).claim(["w"] * 3, ["mail"], NOW, LEASE)) == 3
    await client.delete(keys.running("mail"))  # counted from status:running, not the set
    await limits.put(Limit.of("mail", concurrency=4), NOW)

    first = await limits.claim("w", ["mail"], ["mail"], [], NOW, LEASE, 10)
    assert len(first.jobs) == 1 and first.retry_at == {}  # concurrency, not the rate: no wake-up
    assert (await limits.claim("w", ["mail"], ["mail"], [], NOW, LEASE, 10)).jobs == []


async def test_a_type_at_its_cap_leaves_the_merge_and_the_rest_go_on_in_queue_order(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits
) -> None:
    ids = JobIds()
    # Due at the same times: a and b (priority 1) interleave in the queue, c (2) after both.
    a, b, c = new_jobs("a", 20, 1, ids), new_jobs("b", 20, 1, ids), new_jobs("c", 20, 2, ids)
    await store.insert([*a, *b, *c])
    await limits.put(Limit.of("a", concurrency=3), NOW)
    await limits.put(Limit.of("b", concurrency=12), NOW)  # past the merge's first page of 8

    claimed = await limits.claim("w", ["a", "b", "c"], ["a", "b"], [], NOW, LEASE, 20)

    assert {job.id for job in claimed.jobs} == {job.id for job in a[:3] + b[:12] + c[:5]}
    assert claimed.retry_at == {}
    # What a type left the merge with stays queued, in its place.
    assert await client.zrange(keys.ready("a"), 0, -1) == [job.id for job in a[3:]]
    assert await client.zrange(keys.ready("b"), 0, -1) == [job.id for job in b[12:]]
    assert await client.zcard(keys.ready("c")) == 15


async def test_a_stale_entry_does_not_count_against_the_cap(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits
) -> None:
    jobs = new_jobs("mail", 4)
    await store.insert(jobs)
    [cancelled] = await apply_moves(store, [(jobs[0].id, lambda job: job.cancel(NOW))])
    cancelled.unwrap()
    await client.zadd(keys.ready("mail"), {jobs[0].id: 0})  # an entry left behind, first in line
    await limits.put(Limit.of("mail", concurrency=2), NOW)

    claimed = await limits.claim("w", ["mail"], ["mail"], [], NOW, LEASE, 10)

    assert [job.id for job in claimed.jobs] == [jobs[1].id, jobs[2].id]
    assert await client.zscore(keys.ready("mail"), jobs[0].id) is None  # dropped


async def test_the_bucket_is_stored_exactly_and_follows_the_limit(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits
) -> None:
    now = time.time() + 3600  # ahead of Redis's clock: the caller's time is the claim's
    await store.insert(new_jobs("api", 10))
    await limits.put(Limit.of("api", rate=3, per=7.0, burst=5), now)
    assert await client.hmget(keys.limit("api"), "tokens", "at") == [None, None]  # new: full

    claimed = await limits.claim("w", ["api"], ["api"], [], now, LEASE, 10)
    assert len(claimed.jobs) == 5
    assert claimed.retry_at == {"api": now + 7.0 / 3}  # the domain's arithmetic, to the bit
    assert await bucket(client, keys) == (0.0, now)

    later = now + 5.0
    [usage] = await limits.usage(later)
    assert usage.tokens == Bucket(0.0, now).level(usage.limit, later) and usage.running == 5

    await limits.put(Limit.of("api", rate=3, per=7.0, burst=5, concurrency=9), later)
    assert await bucket(client, keys) == (0.0, now)  # kept
    await limits.put(Limit.of("api", concurrency=9), later)
    assert await client.hmget(keys.limit("api"), "tokens", "at") == [None, None]  # no rate, no bucket
    [usage] = await limits.usage(later)
    assert usage.tokens is None

    assert await limits.remove("api") is True
    assert await client.exists(keys.limit("api")) == 0
    assert await client.sismember(keys.limits, "api") == 0
    assert await limits.limits() == []


async def test_a_caller_behind_redis_spends_the_bucket_at_redis_time(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits
) -> None:
    await store.insert(new_jobs("api", 3))
    await limits.put(Limit.of("api", rate=1, per=60.0), NOW)
    before = time.time()

    claimed = await limits.claim("w", ["api"], ["api"], [], NOW, LEASE, 10)  # NOW: behind Redis's clock

    [job] = claimed.jobs
    at = float(await client.hget(keys.limit("api"), "at") or 0)
    assert before <= at <= time.time() and job.started_at == at
    assert claimed.retry_at == {"api": at + 60.0}
