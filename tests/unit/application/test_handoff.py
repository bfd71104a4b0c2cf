"""Direct hand-off (ADR 0013): a job enqueued while a stream of its type waits with room
is inserted leased to that stream and sent after the commit, never queued."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import pytest

from stackduck.application.acks import Ack
from stackduck.application.consumers import Consumer
from stackduck.application.handoff import assign
from stackduck.application.ids import JobIds
from stackduck.application.ports import JobQuery
from stackduck.container import Container
from stackduck.domain.errors import StorageUnavailable
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.rules import JobRequest, validate
from tests.unit.application.conftest import Inserts, World, parked_on


async def stop(waiting: asyncio.Future[Any]) -> None:
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting


async def test_a_job_enqueued_while_a_stream_waits_is_inserted_leased_to_it(
    world: World, container: Container, inserts: Inserts
) -> None:
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=5)) as stream:
        waiting = await parked_on(stream, container)

        job = await world.enqueue()

        [handed] = await asyncio.wait_for(waiting, 1)
        assert handed.id == job.id and handed.lease_token == 1
        assert inserts.seen == [[(JobStatus.RUNNING, "w")]]  # one write: no push, pop or start
        stored = await world.job_admin.get(job.id)
        assert (stored.status, stored.lease_owner, stored.attempt) == (JobStatus.RUNNING, "w", 1)
        assert await world.claim(worker="other") == []  # it never went to the queue

        # The worker answers it as any delivered job.
        [outcome] = await world.acks.complete([Ack(job.id, "w", handed.lease_token)])
        assert outcome.unwrap().status is JobStatus.COMPLETED


async def test_a_batch_fills_a_stream_to_its_limit_and_queues_the_rest_best_first(
    world: World, container: Container, inserts: Inserts
) -> None:
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=2)) as stream:
        waiting = await parked_on(stream, container)

        low, high, mid = [
            e.job_id
            for e in await world.producer.enqueue([JobRequest("email", "{}", priority=p) for p in (3, 1, 2)])
        ]

        handed = await asyncio.wait_for(waiting, 1)
        assert [j.id for j in handed] == [high, mid]  # the best two, as a claim would take
        assert (await world.job_admin.get(low)).status is JobStatus.QUEUED
        [claimed] = await world.claim(worker="other")
        assert claimed.id == low


async def test_paused_types_scheduled_jobs_and_other_types_take_the_queue(
    world: World, container: Container, inserts: Inserts
) -> None:
    await container.queue_admin().pause("report")
    async with aclosing(world.streams.consume("w", ["email", "report"], max_in_flight=5)) as stream:
        waiting = await parked_on(stream, container)

        paused = await world.enqueue("report")
        later = await world.enqueue(scheduled_in=60.0)
        other = await world.enqueue("sms")

        await asyncio.sleep(0.05)
        assert not waiting.done()
        for job in (paused, later, other):
            assert (await world.job_admin.get(job.id)).status is JobStatus.QUEUED
        assert all(status is JobStatus.QUEUED for batch in inserts.seen for status, _ in batch)
        await stop(waiting)


async def _held_insert(
    world: World, container: Container, inserts: Inserts, stream: AsyncGenerator[Any, None]
) -> tuple[asyncio.Future[Any], asyncio.Future[Job]]:
    """A stream parked, then an enqueue handed to it whose insert is held."""
    waiting = await parked_on(stream, container)
    inserts.gate = asyncio.Event()
    enqueued = asyncio.ensure_future(world.enqueue())
    await asyncio.wait_for(inserts.called.wait(), 1)
    return waiting, enqueued


async def test_a_stream_that_closes_before_the_commit_gets_nothing_and_the_job_is_queued(
    world: World, container: Container, inserts: Inserts
) -> None:
    async with aclosing(world.streams.consume("w", ["email"])) as stream:
        waiting, enqueued = await _held_insert(world, container, inserts, stream)
        assert inserts.seen == [[(JobStatus.RUNNING, "w")]]
        await stop(waiting)
    # The stream is gone; now the insert commits.
    inserts.gate.set()  # type: ignore[union-attr]
    job = await enqueued

    back = await world.job_admin.get(job.id)
    assert (back.status, back.lease_owner) == (JobStatus.QUEUED, None)
    [again] = await world.claim(worker="other")
    assert (again.id, again.lease_token) == (job.id, 2)


async def test_a_server_that_begins_to_stop_before_the_commit_queues_the_job(
    world: World, container: Container, inserts: Inserts
) -> None:
    async with aclosing(world.streams.consume("w", ["email"])) as stream:
        _, enqueued = await _held_insert(world, container, inserts, stream)
        container.gate().close()
        inserts.gate.set()  # type: ignore[union-attr]
        job = await enqueued
        assert (await world.job_admin.get(job.id)).status is JobStatus.QUEUED


async def test_a_failed_insert_gives_the_promised_slots_back(
    world: World, container: Container, inserts: Inserts
) -> None:
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=1)) as stream:
        waiting = await parked_on(stream, container)
        inserts.failure = StorageUnavailable("PostgreSQL is unavailable")

        with pytest.raises(StorageUnavailable):
            await world.enqueue()

        [consumer] = container.consumers().consumers
        assert (consumer.reserved, consumer.free_slots, consumer.inbox) == (0, 1, [])
        job = await world.enqueue()  # the slot is free again: the next job goes straight there
        assert [j.id for j in await asyncio.wait_for(waiting, 1)] == [job.id]


async def test_an_insert_that_failed_after_writing_gives_the_job_back_to_the_queue(
    world: World, container: Container, inserts: Inserts
) -> None:
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=1)) as stream:
        waiting = await parked_on(stream, container)
        inserts.failure, inserts.fail_after_writing = StorageUnavailable("connection lost"), True

        with pytest.raises(StorageUnavailable):
            await world.enqueue()

        [written] = [j for j in (await world.job_admin.list_jobs(JobQuery(), 10, "")).jobs]
        assert (written.status, written.lease_owner) == (JobStatus.QUEUED, None)  # not a lease nobody holds
        assert container.consumers().consumers[0].reserved == 0
        assert [j.id for j in await asyncio.wait_for(waiting, 1)] == [written.id]  # claimed as usual


async def test_a_type_paused_during_the_insert_is_not_delivered(
    world: World, container: Container, inserts: Inserts
) -> None:
    async with aclosing(world.streams.consume("w", ["email"])) as stream:
        waiting, enqueued = await _held_insert(world, container, inserts, stream)
        await container.queue_admin().pause("email")
        inserts.gate.set()  # type: ignore[union-attr]
        job = await enqueued

        assert (await world.job_admin.get(job.id)).status is JobStatus.QUEUED
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await stop(waiting)


async def test_an_insert_outlasting_the_pause_cache_still_delivers_to_its_stream(
    world: World, container: Container, inserts: Inserts
) -> None:
    """The paused types were read fresh for the reservation; by the commit that read is
    over a second old (a slow insert): delivery goes by it rather than giving the job back
    (a give-back makes a second start: attempt 2 for a job delivered once)."""
    async with aclosing(world.streams.consume("w", ["email"])) as stream:
        waiting, enqueued = await _held_insert(world, container, inserts, stream)
        world.clock.advance(5)
        inserts.gate.set()  # type: ignore[union-attr]
        job = await enqueued

        [delivered] = await asyncio.wait_for(waiting, 1)
        assert delivered.id == job.id and delivered.attempt == 1
        assert (await world.job_admin.get(job.id)).status is JobStatus.RUNNING


async def test_a_stream_already_woken_for_other_jobs_is_not_handed_new_ones(
    world: World, container: Container
) -> None:
    async with aclosing(world.streams.consume("w", ["email"])) as stream:
        waiting = await parked_on(stream, container)
        container.notifier().wake_everyone()  # it will look at the queue: leave it to the claim

        [job] = [
            Job.new(
                str(uuid.uuid4()),
                validate(JobRequest("email", "{}"), world.clock.now(), 1024),
                world.clock.now(),
            )
        ]
        reservation = await world.handoff.reserve([job], world.clock.now())

        assert reservation.assignments == {} and job.status is JobStatus.QUEUED
        await stop(waiting)


class Claims:
    """Counts the claims dispatch asks storage for."""

    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        claimer = container.claimer()
        self._claim = claimer.claim
        self.count = 0
        monkeypatch.setattr(claimer, "claim", self.claim)

    async def claim(self, *args: Any) -> list[Job]:
        self.count += 1
        return await self._claim(*args)


@pytest.fixture
def claims(container: Container, monkeypatch: pytest.MonkeyPatch) -> Claims:
    return Claims(container, monkeypatch)


async def test_a_stream_handed_jobs_parks_again_without_asking_storage(
    world: World, container: Container, claims: Claims
) -> None:
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=5)) as stream:
        waiting = await parked_on(stream, container)
        assert claims.count == 1  # found nothing, parked
        for _ in range(3):
            job = await world.enqueue()
            assert [j.id for j in await asyncio.wait_for(waiting, 1)] == [job.id]
            waiting = await parked_on(stream, container)
        assert claims.count == 1  # nothing was queued for it since: no claim would find anything
        await stop(waiting)


async def test_a_job_queued_while_a_handed_stream_was_full_is_claimed_next(
    world: World, container: Container, claims: Claims
) -> None:
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=1)) as stream:
        first = await world.enqueue()  # queued: nobody waits yet
        assert [j.id for j in await asyncio.wait_for(anext(stream), 1)] == [first.id]
        await world.acks.complete([Ack(first.id, "w", 1)])
        waiting = await parked_on(stream, container)
        handed = await world.enqueue()
        assert [j.id for j in await asyncio.wait_for(waiting, 1)] == [handed.id]

        queued = await world.enqueue()  # the stream is full: this one takes the queue
        await world.acks.complete([Ack(handed.id, "w", 1)])

        [claimed] = await asyncio.wait_for(anext(stream), 1)  # announced: the stream claims it
        assert claimed.id == queued.id


async def test_a_handed_stream_still_claims_once_per_idle_recheck(
    world: World, container: Container, claims: Claims
) -> None:
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=5)) as stream:
        waiting = await parked_on(stream, container)
        await world.enqueue()
        await asyncio.wait_for(waiting, 1)
        world.clock.advance(container.policy().idle_recheck_seconds)

        waiting = await parked_on(stream, container)

        assert claims.count == 2
        await stop(waiting)


async def test_a_backlog_resumed_elsewhere_is_claimed_after_a_hand_off(
    world: World, container: Container
) -> None:
    """The claim that left a paused type out proves nothing about that type's queue: a
    resume on another server, heard here before the pause cache shows it, must not let
    newer handed jobs keep the stream from the older backlog."""
    await container.paused_types().pause("email")
    backlog = await world.enqueue(priority=1)  # queued while paused
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=5)) as stream:
        waiting = await parked_on(stream, container)
        # Another server resumes email: the shared switch flips and its wake-up arrives
        # at once; the stream claims, but its pause cache (under a second old) says paused.
        await container.paused_types_store().set_paused("email", False)
        container.notifier().wake_everyone()
        await asyncio.sleep(0.05)
        assert not waiting.done()

        world.clock.advance(1.5)  # the cache is stale now; nothing more is announced
        fresh = await world.enqueue(priority=3)
        assert [j.id for j in await asyncio.wait_for(waiting, 1)] == [fresh.id]

        [claimed] = await asyncio.wait_for(anext(stream), 1)
        assert claimed.id == backlog.id


def test_assign_fills_the_first_stream_of_each_type_then_the_next_and_skips_other_types() -> None:
    now = 1_800_000_000.0
    first, second = Consumer("w1", frozenset({"email"}), 2), Consumer("w2", frozenset({"email", "sms"}), 2)
    ids = JobIds()  # in creation order, the order a claim takes equal jobs in
    jobs = [
        Job.new(ids.new(now), validate(JobRequest(job_type, "{}"), now, 1024), now)
        for job_type in ("email", "email", "email", "sms", "report", "email", "email")
    ]

    given = assign(jobs, [first, second], frozenset(), now, 60)

    assert [j.job_type for j in given[first]] == ["email", "email"]
    assert [j.job_type for j in given[second]] == ["email", "sms"]  # one slot went to sms, in order
    handed = {j.id for batch in given.values() for j in batch}
    assert all((j.status is JobStatus.RUNNING) == (j.id in handed) for j in jobs)
