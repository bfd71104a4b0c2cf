"""Acknowledgements, retries with backoff, dead letters, leases and fencing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from stackduck.application.acks import Ack, Failure
from stackduck.container import Container
from stackduck.domain.errors import IllegalTransition, JobNotFound, LeaseMismatch
from stackduck.domain.job import LEASE_EXPIRED_MESSAGE, Job, JobStatus
from tests.unit.application.conftest import LEASE, World


async def test_complete_finishes_the_job(world: World) -> None:
    job = await world.enqueue()
    [claimed] = await world.claim()

    [outcome] = await world.acks.complete([Ack(job.id, "w1", claimed.lease_token)])

    done = outcome.unwrap()
    assert done.status is JobStatus.COMPLETED
    assert done.completed_at == world.clock.now()
    assert (await world.job_admin.get(job.id)).status is JobStatus.COMPLETED


async def test_failed_job_returns_after_exponential_backoff_then_dead_letters(world: World) -> None:
    job = await world.enqueue(delay=10, max_retries=2)
    waits = []
    for _attempt in range(3):
        await world.advance(0)
        [claimed] = await world.claim()
        [outcome] = await world.acks.fail([Failure(job.id, "boom", "w1", claimed.lease_token)])
        failed = outcome.unwrap()
        if failed.status is JobStatus.QUEUED:
            waits.append(failed.run_at - world.clock.now())
            await world.advance(failed.run_at - world.clock.now() - 0.001)
            assert await world.claim() == [], "delivered before its backoff ended"
            await world.advance(0.001)

    assert waits == [10, 20]
    dead = await world.job_admin.get(job.id)
    assert dead.status is JobStatus.FAILED
    assert dead.retry_count == 2
    assert dead.error_message == "boom"
    page = await world.job_admin.dead_letters(None)
    assert [j.id for j in page.jobs] == [job.id]


async def test_backoff_is_capped_at_one_hour(world: World) -> None:
    job = await world.enqueue(delay=3000, max_retries=5)
    await world.claim()
    await world.acks.fail([Failure(job.id, "1")])
    await world.advance(3000)
    await world.claim()

    [outcome] = await world.acks.fail([Failure(job.id, "2")])

    assert outcome.unwrap().run_at - world.clock.now() == 3600


async def test_no_retry_dead_letters_at_once_and_requeue_brings_it_back(world: World) -> None:
    job = await world.enqueue(max_retries=5)
    await world.claim()
    [outcome] = await world.acks.fail([Failure(job.id, "fatal", retry=False)])
    assert outcome.unwrap().status is JobStatus.FAILED

    [requeued] = await world.job_admin.requeue_dead([job.id])

    assert requeued.unwrap().retry_count == 0
    [claimed] = await world.claim()
    assert claimed.id == job.id
    assert claimed.lease_token == 2


async def test_retry_limit_zero_means_the_first_failure_is_final(world: World) -> None:
    job = await world.enqueue(retry_limit=0)
    await world.claim()

    [outcome] = await world.acks.fail([Failure(job.id, "once")])

    assert outcome.unwrap().status is JobStatus.FAILED


async def test_jitter_only_lengthens_the_wait(container, clock) -> None:  # type: ignore[no-untyped-def]
    from stackduck.application.policy import QueuePolicy
    from stackduck.domain.retry import RetryPolicy
    from tests.unit.application.conftest import make_world

    container.policy.override(QueuePolicy(lease_seconds=LEASE, retry=RetryPolicy(jitter=0.5)))
    clock._randoms = iter([0.0, 0.5, 0.999] * 10)
    world = make_world(container, clock)
    waits = []
    for _ in range(3):
        job = await world.enqueue(delay=100)
        await world.claim()
        [outcome] = await world.acks.fail([Failure(job.id, "x")])
        waits.append(outcome.unwrap().run_at - world.clock.now())

    assert waits == [100, 125, pytest.approx(149.95)]


async def test_acknowledging_a_job_that_is_not_running_is_refused(world: World) -> None:
    job = await world.enqueue()
    [outcome] = await world.acks.complete([Ack(job.id)])
    assert isinstance(outcome.error, IllegalTransition)

    await world.claim()
    await world.acks.complete([Ack(job.id)])
    [again] = await world.acks.complete([Ack(job.id)])
    assert isinstance(again.error, IllegalTransition)
    [fail] = await world.acks.fail([Failure(job.id, "late")])
    assert isinstance(fail.error, IllegalTransition)
    assert (await world.job_admin.get(job.id)).status is JobStatus.COMPLETED


async def test_unknown_job_id_is_not_found(world: World) -> None:
    [outcome] = await world.acks.complete([Ack("no-such-job")])
    assert isinstance(outcome.error, JobNotFound)


async def test_a_batch_reports_each_ack_separately(world: World) -> None:
    first = await world.enqueue()
    second = await world.enqueue()
    await world.claim(limit=2)

    outcomes = await world.acks.complete([Ack(first.id), Ack("missing"), Ack(second.id, "someone-else")])

    assert outcomes[0].unwrap().status is JobStatus.COMPLETED
    assert isinstance(outcomes[1].error, JobNotFound)
    assert isinstance(outcomes[2].error, LeaseMismatch)
    assert (await world.job_admin.get(second.id)).status is JobStatus.RUNNING


async def test_expired_lease_counts_as_a_failure_and_the_job_is_retried(world: World) -> None:
    job = await world.enqueue(delay=5)
    await world.claim(worker="slow")

    await world.advance(LEASE)

    expired = await world.job_admin.get(job.id)
    assert expired.status is JobStatus.QUEUED
    assert expired.retry_count == 1
    assert expired.error_message == LEASE_EXPIRED_MESSAGE
    assert expired.run_at == world.clock.now() + 5


async def test_heartbeat_keeps_the_lease(world: World) -> None:
    job = await world.enqueue()
    [claimed] = await world.claim()
    await world.advance(LEASE - 1)

    [beat] = await world.acks.heartbeat([Ack(job.id, "w1", claimed.lease_token)])
    assert beat.unwrap().lease_expires_at == world.clock.now() + LEASE
    await world.advance(LEASE - 1)

    assert (await world.job_admin.get(job.id)).status is JobStatus.RUNNING
    assert await world.reaper.expire_due() == world.clock.now() + 1


async def test_heartbeats_arriving_during_a_write_share_the_next_one(
    world: World, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [await world.enqueue() for _ in range(10)]
    claimed = await world.claim(limit=10)
    store = container.store()
    reads: list[int] = []
    first_read, release = asyncio.Event(), asyncio.Event()
    get = store.get

    async def counted_get(job_ids: Sequence[str]) -> dict[str, Job]:
        reads.append(len(job_ids))
        first_read.set()
        await release.wait()
        return await get(job_ids)

    monkeypatch.setattr(store, "get", counted_get)
    first = asyncio.ensure_future(world.acks.heartbeat([Ack(claimed[0].id, "w1", claimed[0].lease_token)]))
    await first_read.wait()  # the first beat's write is in flight: the others wait for it
    rest = [
        asyncio.ensure_future(world.acks.heartbeat([Ack(job.id, "w1", job.lease_token)]))
        for job in claimed[1:]
    ]
    await asyncio.sleep(0)
    release.set()
    beats = [await first] + [await beat for beat in rest]

    assert reads == [1, 9]  # two reads (and two writes) for ten heartbeat calls
    assert all(outcome.unwrap().lease_expires_at == world.clock.now() + LEASE for [outcome] in beats)
    assert {job.id for job in jobs} == {job.id for job in claimed}


async def test_a_late_answer_from_an_expired_lease_cannot_touch_the_new_attempt(world: World) -> None:
    job = await world.enqueue(delay=1)
    [first] = await world.claim(worker="slow")
    await world.advance(LEASE)  # lease runs out: the job backs off, then goes to someone else
    await world.advance(1)
    [second] = await world.claim(worker="fast")
    assert second.lease_token == first.lease_token + 1

    [late_complete] = await world.acks.complete([Ack(job.id, "slow", first.lease_token)])
    [late_fail] = await world.acks.fail([Failure(job.id, "late", None, first.lease_token)])
    [late_beat] = await world.acks.heartbeat([Ack(job.id, None, first.lease_token)])

    for outcome in (late_complete, late_fail, late_beat):
        assert isinstance(outcome.error, LeaseMismatch)
    current = await world.job_admin.get(job.id)
    assert (current.status, current.lease_owner, current.attempt) == (JobStatus.RUNNING, "fast", 2)
    [ok] = await world.acks.complete([Ack(job.id, "fast", second.lease_token)])
    assert ok.unwrap().status is JobStatus.COMPLETED


async def test_run_now_cuts_a_backoff_short(world: World) -> None:
    job = await world.enqueue(delay=600)
    await world.claim()
    await world.acks.fail([Failure(job.id, "x")])
    assert await world.claim() == []

    [outcome] = await world.job_admin.run_now([job.id])

    assert outcome.unwrap().run_at == world.clock.now()
    assert [j.id for j in await world.claim()] == [job.id]


async def test_the_books_balance(world: World) -> None:
    jobs = [await world.enqueue(max_retries=1, delay=5) for _ in range(12)]
    await world.enqueue(scheduled_in=100)
    claimed = await world.claim(limit=8)
    await world.acks.complete([Ack(j.id) for j in claimed[:3]])
    await world.acks.fail([Failure(j.id, "x", retry=False) for j in claimed[3:5]])
    await world.acks.fail([Failure(j.id, "x") for j in claimed[5:6]])
    await world.job_admin.cancel([jobs[-1].id])

    counts = await world.job_admin.counts()

    assert counts == {
        "completed": 3,
        "failed": 2,
        "running": 2,
        "scheduled": 2,  # the retry backing off and the job scheduled for later
        "cancelled": 1,
        "queued": 3,
    }
    assert sum(counts.values()) == 13
