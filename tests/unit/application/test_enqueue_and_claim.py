"""Enqueue and claim on the memory adapters: priority, FIFO, types, scheduling."""

from __future__ import annotations

import pytest

from stackduck.application.acks import Ack, Failure
from stackduck.container import Container
from stackduck.domain.errors import InvalidJob
from stackduck.domain.job import JobStatus
from stackduck.domain.rules import JobRequest
from tests.unit.application.conftest import LEASE, World


async def test_enqueued_job_is_committed_queued_and_claimable(world: World) -> None:
    job = await world.enqueue(payload='{"to": "a@b.c"}')
    assert (await world.job_admin.get(job.id)).status is JobStatus.QUEUED

    [claimed] = await world.claim(worker="w1")

    assert claimed.id == job.id
    assert claimed.status is JobStatus.RUNNING
    assert claimed.lease_owner == "w1"
    assert claimed.lease_token == 1
    assert claimed.lease_expires_at == world.clock.now() + LEASE
    assert claimed.payload == '{"to": "a@b.c"}'
    assert await world.claim() == []


async def test_a_batch_with_one_invalid_request_stores_nothing(world: World) -> None:
    requests = [JobRequest("email", "{}"), JobRequest("email", "{not json")]

    with pytest.raises(InvalidJob):
        await world.producer.enqueue(requests)

    assert await world.job_admin.counts() == {
        "queued": 0,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "scheduled": 0,
    }
    assert await world.claim() == []


async def test_claims_follow_priority_then_arrival(world: World) -> None:
    order = [3, 1, 2, 1, 3, 2, 1]
    jobs = []
    for priority in order:
        jobs.append(await world.enqueue(priority=priority))
        world.clock.advance(0.001)

    claimed = await world.claim(limit=len(order))

    expected = sorted(jobs, key=lambda job: (job.priority, job.created_at))
    assert [job.id for job in claimed] == [job.id for job in expected]


async def test_jobs_enqueued_in_the_same_instant_keep_their_arrival_order(world: World) -> None:
    jobs = [await world.enqueue() for _ in range(50)]

    claimed = await world.claim(limit=50)

    assert [job.id for job in claimed] == [job.id for job in jobs]


async def test_a_worker_gets_only_the_types_it_consumes_and_the_best_across_them(world: World) -> None:
    low_sms = await world.enqueue("sms", priority=3)
    await world.enqueue("video", priority=1)
    high_email = await world.enqueue("email", priority=1)

    claimed = await world.claim("sms", "email", limit=5)

    assert [job.id for job in claimed] == [high_email.id, low_sms.id]


async def test_claim_limit_is_respected(world: World) -> None:
    for _ in range(5):
        await world.enqueue()

    assert len(await world.claim(limit=3)) == 3
    assert len(await world.claim(limit=3)) == 2


async def test_scheduled_job_waits_for_its_time(world: World) -> None:
    job = await world.enqueue(scheduled_in=30)
    assert await world.claim() == []
    assert await world.ready.promote_due() == job.run_at  # the scheduler sleeps until then

    await world.advance(29.9)
    assert await world.claim() == []

    await world.advance(0.1)
    [claimed] = await world.claim()
    assert claimed.id == job.id


async def test_scheduled_at_in_rfc3339(world: World) -> None:
    world.clock.set(1_800_000_000.0)  # 2027-01-15T08:00:00Z
    job = await world.enqueue(scheduled_at="2027-01-15T08:01:00Z")

    assert job.run_at == 1_800_000_060.0
    await world.advance(59)
    assert await world.claim() == []
    await world.advance(1)
    assert [j.id for j in await world.claim()] == [job.id]


async def test_a_due_low_priority_job_is_not_held_back_by_a_scheduled_high_one(world: World) -> None:
    await world.enqueue(priority=1, scheduled_in=60)
    low = await world.enqueue(priority=3)

    assert [job.id for job in await world.claim(limit=5)] == [low.id]


async def test_cancelled_job_is_never_delivered(world: World) -> None:
    job = await world.enqueue()
    [outcome] = await world.job_admin.cancel([job.id])

    assert outcome.unwrap().status is JobStatus.CANCELLED
    assert await world.claim() == []


async def test_a_cancelled_running_job_never_completes_nor_retries(world: World) -> None:
    job = await world.enqueue()
    [running] = await world.claim()

    [outcome] = await world.job_admin.cancel([job.id])

    cancelled = outcome.unwrap()
    assert cancelled.status is JobStatus.CANCELLED and cancelled.lease_owner is None
    assert [(a.number, a.worker_id, a.outcome) for a in cancelled.attempts] == [(1, "w1", "cancelled")]
    [late] = await world.acks.complete([Ack(job.id, "w1", running.lease_token)])
    assert late.error is not None
    [failed] = await world.acks.fail([Failure(job.id, "boom", "w1", running.lease_token)])
    assert failed.error is not None
    await world.advance(LEASE * 2)
    assert (await world.job_admin.get(job.id)).status is JobStatus.CANCELLED
    assert await world.claim() == []


async def test_a_claim_that_read_the_clock_before_the_job_arrived_still_takes_it(
    world: World, container: Container
) -> None:
    before = world.clock.now()
    world.clock.advance(0.5)
    job = await world.enqueue()  # due at the new time, later than `before`

    claimed = await container.claimer().claim(["w"] * 1, ["email"], before, LEASE)

    assert [j.id for j in claimed] == [job.id]
    assert await world.claim() == []
