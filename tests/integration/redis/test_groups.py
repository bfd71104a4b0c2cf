"""Redis alone: fair groups as Redis keeps them (ADR 0029). A grouped job is in its group's
sorted set, never in a ready or scheduled set, and its group's turn follows whichever
script queues it or takes it out of the queue; the keys scripts build from a job's hash
or a group's name are the ones keys.py builds; racing enqueues and claims lose no job and
lease none twice; and a claim's work does not grow with the groups waiting."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from functools import partial

import pytest
import redis.asyncio as redis

from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.limits import RedisLimits
from stackduck.adapters.redis.queue import RedisReadyQueue
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.application.ids import JobIds
from stackduck.application.moves import apply_moves
from stackduck.application.ports import Completion, QueueEntry
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.limits import Limit
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec
from tests.redis_server import RedisServer, private_redis

LEASE = 60.0
POLICY = RetryPolicy(jitter=0.0)
#: A type and a group whose keys need every kind of encoding: the scripts that build a
#: group's keys (from a job's hash, or from a name read in the turns) must build keys.py's.
ODD = "mail {eu}:%/é ~x"
ODD_GROUP = "tenant {7}:%/é ~y|z"


@pytest.fixture
def now() -> float:
    """Ahead of Redis's clock: a claim's now is the caller's."""
    return time.time() + 3600


def new_job(
    job_type: str, run_at: float, now: float, group: str = "", priority: int = 2, ids: JobIds | None = None
) -> Job:
    job = Job.new((ids or JobIds()).new(now), JobSpec(job_type, "{}", priority, 30, 2, run_at), now)
    job.group_key = group
    return job


async def claim(limits: RedisLimits, job_type: str, now: float, n: int, worker: str = "w") -> list[Job]:
    claimed = await limits.claim(worker, [job_type], [job_type], [job_type], now, LEASE, n)
    return claimed.jobs


async def group_ids(
    client: redis.Redis, keys: Keys, job_type: str, group: str, priority: int = 2
) -> list[str]:
    return [str(member) for member in await client.zrange(keys.group(job_type, priority, group), 0, -1)]


async def turn(client: redis.Redis, keys: Keys, job_type: str, group: str, priority: int = 2) -> float | None:
    score = await client.zscore(keys.turns(job_type, priority), group)
    return None if score is None else float(score)


async def not_in_any_queue_set(client: redis.Redis, keys: Keys, job_type: str, job_id: str) -> bool:
    """The job has no ready or scheduled entry (a grouped job's entry is in its group)."""
    scheduled = [str(m) for m in await client.zrange(keys.scheduled(job_type), 0, -1)]
    return await client.zscore(keys.ready(job_type), job_id) is None and not any(
        m.endswith(f"|{job_id}") for m in scheduled
    )


async def test_the_keys_scripts_build_for_a_group_are_the_ones_keys_py_builds(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits, now: float
) -> None:
    ids = JobIds()
    jobs = [new_job(ODD, now - 10 + i, now, ODD_GROUP, ids=ids) for i in range(2)]
    later = new_job(ODD, now + 60, now, ODD_GROUP, priority=3, ids=ids)
    await store.insert([*jobs, later])
    await limits.put(Limit.of(ODD, group_concurrency=5), now)  # the claim counts the group's running
    assert await limits.grouped() == frozenset({ODD})

    [leased] = await claim(limits, ODD, now, 1)

    assert leased.id == jobs[0].id
    assert await client.smembers(keys.group_running(ODD, ODD_GROUP)) == {leased.id}
    assert await client.smembers(keys.running_grouped(ODD)) == {leased.id}
    assert await group_ids(client, keys, ODD, ODD_GROUP) == [jobs[1].id]
    assert await turn(client, keys, ODD, ODD_GROUP) == pytest.approx(now + 1e-6)  # served
    assert await group_ids(client, keys, ODD, ODD_GROUP, priority=3) == [later.id]

    [done] = await store.complete([Completion(leased.id, "w", leased.attempt, now + 1)])
    assert done is not None and done.status is JobStatus.COMPLETED
    assert await client.exists(keys.group_running(ODD, ODD_GROUP), keys.running_grouped(ODD)) == 0
    await limits.freed(ODD, {ODD_GROUP}, now + 1)

    # Every key under the prefix is one keys.py names: none was built wrong in a script.
    named = {
        *keys.store_keys(),
        keys.types,
        keys.due,
        keys.grouped,
        keys.limits,
        keys.limit(ODD),
        keys.served(ODD, 2),
        keys.waking(ODD),
        keys.grouped_queued(ODD),
        *keys.of_group(ODD, 2, ODD_GROUP)[:2],
        *keys.of_group(ODD, 3, ODD_GROUP)[:2],
        *(keys.job(job.id) for job in [*jobs, later]),
    }
    found = {str(key) async for key in client.scan_iter(match=f"{keys.prefix}:*")}
    assert found <= named, found - named


async def test_every_path_that_queues_a_grouped_job_puts_it_in_its_group_and_turn(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits, now: float
) -> None:
    queue = RedisReadyQueue(client, keys, groups=True)
    job = new_job("t", now + 60, now, "a")
    await store.insert([job])

    # Scheduled for later: in its group only, its turn at its time, its wake-up marked.
    assert await group_ids(client, keys, "t", "a") == [job.id]
    assert await not_in_any_queue_set(client, keys, "t", job.id)
    assert await turn(client, keys, "t", "a") == job.run_at
    assert await client.zscore(keys.waking("t"), job.id) == job.run_at
    assert float(await client.zscore(keys.due, "t") or 0) <= job.run_at
    assert await claim(limits, "t", now, 5) == []
    assert await queue.promote_due(now + 61) == {"t": 1}  # its consumers are woken
    assert await client.zcard(keys.waking("t")) == 0
    assert await client.zscore(keys.due, "t") is None

    async def leased_again(at: float) -> Job:
        [again] = await claim(limits, "t", at, 5)
        assert again.id == job.id
        assert await group_ids(client, keys, "t", "a") == []
        assert await turn(client, keys, "t", "a") is None  # emptied: out of the turns
        assert await client.hget(keys.served("t", 2), "a") is None
        return again

    async def queued_again(at: float) -> None:
        stored = (await store.get([job.id]))[job.id]
        assert stored.status is JobStatus.QUEUED
        assert await group_ids(client, keys, "t", "a") == [job.id]
        assert await not_in_any_queue_set(client, keys, "t", job.id)
        assert await turn(client, keys, "t", "a") == stored.run_at  # no served left: by its time
        assert await client.smembers(keys.running_grouped("t")) == set()
        assert await client.smembers(keys.group_running("t", "a")) == set()

    leased = await leased_again(now + 61)
    assert await client.smembers(keys.group_running("t", "a")) == {job.id}

    # A failure retried: back in its group for its backoff, woken at its time.
    [failed] = await apply_moves(
        store,
        [(job.id, partial(Job.fail, worker_id="w", token=leased.attempt, now=now + 62, error_message="x",
                          policy=POLICY))],
    )  # fmt: skip
    retry_at = failed.unwrap().run_at
    assert retry_at > now + 62
    await queued_again(now + 62)
    assert await client.zscore(keys.waking("t"), job.id) == retry_at

    # An expired lease.
    leased = await leased_again(retry_at + 1)
    expiry = (leased.lease_expires_at or 0) + 1
    [expired] = await apply_moves(store, [(job.id, partial(Job.expire, now=expiry, policy=POLICY))])
    expired.unwrap()
    await queued_again(expiry)
    await queue.promote_due(expiry + 3600)

    # A release (a stream closed before it was sent).
    leased = await leased_again(expiry + 3600)
    release = partial(Job.release, worker_id=None, token=leased.attempt, now=expiry + 3601)
    [released] = await apply_moves(store, [(job.id, release)])
    released.unwrap()
    await queued_again(expiry + 3601)

    # The re-queue at start pushes what the record holds: nothing doubles, the turn holds.
    before = await turn(client, keys, "t", "a")
    await queue.push([QueueEntry.of((await store.get([job.id]))[job.id])], expiry + 3602)
    await queued_again(expiry + 3602)
    assert await turn(client, keys, "t", "a") == before

    # A cancel takes it out of its group and its group out of the turns.
    [cancelled] = await apply_moves(store, [(job.id, partial(Job.cancel, now=expiry + 3603))])
    assert cancelled.unwrap().status is JobStatus.CANCELLED
    assert await group_ids(client, keys, "t", "a") == []
    assert await turn(client, keys, "t", "a") is None

    # A delete of a queued grouped job does too.
    other = new_job("t", now - 1, now, "b")
    await store.insert([other])
    assert await turn(client, keys, "t", "b") == other.run_at
    assert await store.delete([other.id], [JobStatus.QUEUED]) == 1
    assert await group_ids(client, keys, "t", "b") == []
    assert await turn(client, keys, "t", "b") is None
    assert await client.zcard(keys.grouped_queued("t")) == 0


async def test_the_ungrouped_jobs_of_a_grouped_type_are_one_group_under_group_concurrency(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits, now: float
) -> None:
    ids = JobIds()
    plain = [new_job("t", now - 30 + i, now, ids=ids) for i in range(3)]
    grouped = [new_job("t", now - 20 + i, now, "a", ids=ids) for i in range(3)]
    await store.insert([*plain, *grouped])
    await limits.put(Limit.of("t", group_concurrency=1), now)

    first = await claim(limits, "t", now, 10)
    assert sorted(job.id for job in first) == sorted([plain[0].id, grouped[0].id])
    assert await claim(limits, "t", now + 0.001, 10) == []  # both parked
    [usage] = await limits.usage(now)
    assert usage.running == 2 and usage.limit.group_concurrency == 1

    done = next(job for job in first if not job.group_key)
    await store.complete([Completion(done.id, "w", done.attempt, now + 1)])
    await limits.freed("t", {""}, now + 1)
    assert [job.id for job in await claim(limits, "t", now + 1.001, 10)] == [plain[1].id]


async def test_a_group_concurrency_without_groups_caps_the_types_running_jobs(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits, now: float
) -> None:
    ids = JobIds()
    await store.insert([new_job("plain", now - 10 + i, now, ids=ids) for i in range(5)])
    await limits.put(Limit.of("plain", group_concurrency=2), now)
    claimed = await limits.claim("w", ["plain"], ["plain"], [], now, LEASE, 10)
    assert len(claimed.jobs) == 2 and claimed.retry_at == {}
    assert (await limits.claim("w", ["plain"], ["plain"], [], now, LEASE, 10)).jobs == []


async def test_racing_enqueues_and_claims_lose_no_job_and_lease_none_twice(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits, now: float
) -> None:
    ids = JobIds()
    made: list[Job] = []
    leased: list[Job] = []
    rng = random.Random(7)

    async def produce() -> None:
        for _ in range(25):
            batch = [new_job("t", now - 1, now, f"g{rng.randrange(12)}", ids=ids) for _ in range(4)]
            batch.append(new_job("t", now - 1, now, ids=ids))  # and the group ""
            made.extend(batch)
            await store.insert(batch)
            await asyncio.sleep(0)

    async def consume(worker: str, producing: asyncio.Future[list[None]]) -> None:
        while True:
            got = await claim(limits, "t", now + len(leased) / 1000, 3, worker)
            leased.extend(got)
            if not got and producing.done():
                return
            await asyncio.sleep(0)

    producing = asyncio.gather(*(produce() for _ in range(4)))
    await asyncio.wait_for(asyncio.gather(producing, *(consume(f"w{i}", producing) for i in range(4))), 60)
    while more := await claim(limits, "t", now + 10, 100):  # what the last rounds left
        leased.extend(more)

    assert len(made) == 500
    assert sorted(job.id for job in leased) == sorted(job.id for job in made)  # each once
    for g in range(12):
        assert await client.exists(keys.group("t", 2, f"g{g}")) == 0
    assert await client.zcard(keys.turns("t", 2)) == 0
    assert await client.zcard(keys.ready("t")) == 0
    assert await client.zcard(keys.grouped_queued("t")) == 0


async def test_within_a_group_jobs_keep_their_order_across_claims(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits, now: float
) -> None:
    ids = JobIds()
    jobs = [new_job("t", now - 100 + (i % 7), now, "a", ids=ids) for i in range(40)]
    await store.insert(jobs)
    expected = [job.id for job in sorted(jobs, key=lambda job: (job.run_at, job.id))]
    taken = []
    for n in range(10):
        taken += [job.id for job in await claim(limits, "t", now + n / 1000, 4)]
    assert taken == expected


@pytest.fixture
def private() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


async def commands_in_one_claim(url: str, groups: int, later_groups: int) -> int:
    """How many commands one claim of 10 runs in Redis (its script's calls), with ``groups``
    groups of one due job waiting and ``later_groups`` groups of one job for later."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        keys = Keys(f"cost-{groups}-{later_groups}")
        store, limits = RedisJobStore(client, keys), RedisLimits(client, keys)
        now = time.time() + 3600
        ids = JobIds()
        jobs = [new_job("t", now - 100 + g / 1000, now, f"g{g}", ids=ids) for g in range(groups)]
        jobs += [new_job("t", now + 100 + g, now, f"later{g}", ids=ids) for g in range(later_groups)]
        for start in range(0, len(jobs), 500):
            await store.insert(jobs[start : start + 500])
        await claim(limits, "t", now, 10)  # the script is loaded; the claim of interest follows
        await client.config_resetstat()
        assert len(await claim(limits, "t", now + 1, 10)) == 10
        stats = await client.info("commandstats")
        skip = {"cmdstat_evalsha", "cmdstat_eval", "cmdstat_config", "cmdstat_info"}
        return sum(int(v["calls"]) for k, v in stats.items() if k not in skip)
    finally:
        await client.aclose()


async def test_a_claim_runs_as_many_commands_with_5000_groups_waiting_as_with_20(
    private: RedisServer,
) -> None:
    few = await commands_in_one_claim(private.url, 20, 0)
    many = await commands_in_one_claim(private.url, 5000, 0)
    many_later = await commands_in_one_claim(private.url, 20, 5000)
    assert few == many == many_later
    assert few < 200  # about 12 a job leased: its read, its write, its group's turn


async def test_the_counts_and_stats_hold_grouped_jobs_by_priority_due_or_later(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits, now: float
) -> None:
    ids = JobIds()
    await store.insert(
        [
            new_job("t", now - 5, now, "a", priority=1, ids=ids),
            new_job("t", now - 4, now, "b", priority=1, ids=ids),
            new_job("t", now - 3, now, "a", priority=3, ids=ids),
            new_job("t", now + 60, now, "a", priority=2, ids=ids),
            new_job("t", now - 2, now, priority=2, ids=ids),  # ungrouped, due
            new_job("t", now + 90, now, priority=2, ids=ids),  # ungrouped, later
        ]
    )
    [stats] = await store.stats(now, now - 60)
    assert stats.ready_by_priority == (2, 1, 1) and stats.scheduled == 2
    counts = await store.count(now)
    assert counts["queued"] == 4 and counts["scheduled"] == 2

    await claim(limits, "t", now, 2)  # the two of priority 1
    [stats] = await store.stats(now, now - 60)
    assert stats.ready_by_priority == (0, 1, 1) and stats.scheduled == 2 and stats.running == 2
    [stats] = await store.stats(now + 61, now - 60)  # the grouped later one is due by then
    assert stats.ready_by_priority == (0, 2, 1) and stats.scheduled == 1


async def test_put_rebuilds_the_group_running_sets_missing_or_damaged(
    client: redis.Redis, keys: Keys, store: RedisJobStore, limits: RedisLimits, now: float
) -> None:
    ids = JobIds()
    await store.insert([new_job(ODD, now - 10 + i, now, f"g{i % 2}", ids=ids) for i in range(4)])
    await store.insert([new_job(ODD, now - 20, now, ids=ids)])
    leased = await claim(limits, ODD, now, 5)
    by_group = {g: {job.id for job in leased if job.group_key == g} for g in ("g0", "g1")}
    assert len(by_group["g0"]) == len(by_group["g1"]) == 2

    await client.delete(keys.group_running(ODD, "g0"), keys.running_grouped(ODD))  # missing
    await client.sadd(keys.group_running(ODD, "g1"), "not-a-job")  # damaged
    await limits.put(Limit.of(ODD, group_concurrency=3), now)

    assert await client.smembers(keys.group_running(ODD, "g0")) == by_group["g0"]
    assert await client.smembers(keys.group_running(ODD, "g1")) == by_group["g1"]
    assert await client.smembers(keys.running_grouped(ODD)) == by_group["g0"] | by_group["g1"]
    assert len(await client.smembers(keys.running(ODD))) == 5
