"""Redis alone: each job type's running set (keys.running, what a concurrency limit counts)
holds exactly the type's running jobs, whichever script moves a job into or out of
running: a claim, a completion, a failure (retried or dead), an expired lease, a cancel,
a hand-off insert, a start through the domain, a delete."""

from __future__ import annotations

from functools import partial

import redis.asyncio as redis

from stackduck.adapters.redis.claimer import RedisClaimer
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.application.ids import JobIds
from stackduck.application.moves import apply_moves
from stackduck.application.ports import Completion
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec

NOW = 1_700_000_000.0  # behind Redis's clock: a claim leases at Redis's time, due jobs stay due
LEASE = 60.0
#: A type whose key needs every kind of encoding: the scripts that build its running set's
#: key from the job's hash must build the one keys.py builds.
ODD = "mail {eu}:%/é ~x"
POLICY = RetryPolicy(jitter=0.0)


def new_job(job_type: str, max_retries: int = 2) -> Job:
    return Job.new(JobIds().new(NOW), JobSpec(job_type, "{}", 2, 30, max_retries, NOW - 1), NOW)


async def running(client: redis.Redis, keys: Keys, job_type: str) -> set[str]:
    return {str(member) for member in await client.smembers(keys.running(job_type))}


async def claim(client: redis.Redis, keys: Keys, job_types: list[str], n: int) -> list[Job]:
    return await RedisClaimer(client, keys).claim(["w"] * n, job_types, NOW, LEASE)


async def test_a_claim_adds_each_type_its_leased_jobs_and_a_completion_takes_them_out(
    client: redis.Redis, keys: Keys, store: RedisJobStore
) -> None:
    odd, plain = [new_job(ODD) for _ in range(3)], [new_job("plain") for _ in range(2)]
    await store.insert([*odd, *plain])

    leased = await claim(client, keys, [ODD, "plain"], 4)

    by_type = {t: {job.id for job in leased if job.job_type == t} for t in (ODD, "plain")}
    assert await running(client, keys, ODD) == by_type[ODD] and len(by_type[ODD]) >= 2
    assert await running(client, keys, "plain") == by_type["plain"]

    done = await store.complete(
        [Completion(job.id, "w", job.attempt, job.started_at or NOW) for job in leased]
    )
    assert all(job is not None and job.status is JobStatus.COMPLETED for job in done)
    assert await running(client, keys, ODD) == set()
    assert await running(client, keys, "plain") == set()
    assert await client.exists(keys.running(ODD), keys.running("plain")) == 0  # no set left empty


async def test_a_failure_retried_or_dead_an_expired_lease_and_a_cancel_take_a_job_out(
    client: redis.Redis, keys: Keys, store: RedisJobStore
) -> None:
    retried, dead, expired, cancelled, kept = (new_job("t", max_retries=0 if i == 1 else 2) for i in range(5))
    await store.insert([retried, dead, expired, cancelled, kept])
    leased = {job.id: job for job in await claim(client, keys, ["t"], 5)}
    assert await running(client, keys, "t") == set(leased)
    at = max(job.lease_expires_at or 0.0 for job in leased.values())  # every lease has run out

    outcomes = await apply_moves(
        store,
        [
            (retried.id, partial(Job.fail, worker_id="w", token=1, now=at, error_message="x", policy=POLICY)),
            (dead.id, partial(Job.fail, worker_id="w", token=1, now=at, error_message="x", policy=POLICY)),
            (expired.id, partial(Job.expire, now=at, policy=POLICY)),
            (cancelled.id, partial(Job.cancel, now=at)),
            (kept.id, partial(Job.heartbeat, worker_id="w", token=1, now=at, lease_seconds=LEASE)),
        ],
    )

    states = [outcome.unwrap().status for outcome in outcomes]
    assert states == [
        JobStatus.QUEUED,
        JobStatus.FAILED,
        JobStatus.QUEUED,
        JobStatus.CANCELLED,
        JobStatus.RUNNING,
    ]
    assert await running(client, keys, "t") == {kept.id}  # a heartbeat keeps it in


async def test_a_hand_off_insert_and_a_start_through_the_domain_add_and_a_delete_takes_out(
    client: redis.Redis, keys: Keys, store: RedisJobStore
) -> None:
    handed, queued = new_job(ODD), new_job(ODD)
    handed.start("w", NOW, LEASE)  # what a hand-off does before its insert
    await store.insert([handed, queued])
    assert await running(client, keys, ODD) == {handed.id}

    [started] = await store.start(dict.fromkeys([queued.id], "w"), NOW, LEASE)  # read, Job.start, apply.lua
    assert started.status is JobStatus.RUNNING
    assert await running(client, keys, ODD) == {handed.id, queued.id}

    assert await store.delete([handed.id], [JobStatus.RUNNING]) == 1
    assert await running(client, keys, ODD) == {queued.id}
