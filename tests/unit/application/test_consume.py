"""An open stream, driven directly: in-flight limit, hand-back on close, acks from elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import aclosing

from dependency_injector import providers

from stackduck.adapters.backends import MemoryBackend
from stackduck.adapters.memory import ManualClock, MemoryJobStore
from stackduck.application.acks import Ack, Failure
from stackduck.application.moves import apply_moves
from stackduck.application.policy import QueuePolicy
from stackduck.container import Container
from stackduck.domain.job import Job, JobStatus
from tests.unit.application.conftest import LEASE, World, make_world


async def test_a_stream_holds_at_most_its_limit_and_gets_more_after_an_ack(world: World) -> None:
    jobs = [await world.enqueue() for _ in range(3)]
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=2)) as stream:
        first = await anext(stream)
        assert [j.id for j in first] == [j.id for j in jobs[:2]]
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.05)
        assert not waiting.done()

        await world.acks.complete([Ack(jobs[0].id)])

        assert [j.id for j in await asyncio.wait_for(waiting, 1)] == [jobs[2].id]


async def test_closing_a_stream_hands_its_jobs_back_without_a_failure(world: World) -> None:
    job = await world.enqueue()
    async with aclosing(world.streams.consume("w", ["email"])) as stream:
        await anext(stream)
        assert (await world.job_admin.get(job.id)).status is JobStatus.RUNNING

    back = await world.job_admin.get(job.id)
    assert (back.status, back.retry_count, back.lease_owner) == (JobStatus.QUEUED, 0, None)
    [again] = await world.claim(worker="other")
    assert (again.id, again.lease_token) == (job.id, 2)


async def test_a_job_answered_elsewhere_frees_its_slot_after_a_recheck(container: Container) -> None:
    container.policy.override(QueuePolicy(lease_seconds=LEASE, idle_recheck_seconds=0.05))
    world = make_world(container, ManualClock())
    first, second = await world.enqueue(), await world.enqueue()
    async with aclosing(world.streams.consume("w", ["email"])) as stream:
        assert [j.id for j in await anext(stream)] == [first.id]

        # Completed through the store alone, as another server instance would.
        [done] = await apply_moves(
            container.store(), [(first.id, lambda job: Job.complete(job, None, None, world.clock.now()))]
        )
        assert done.unwrap().status is JobStatus.COMPLETED

        assert [j.id for j in await asyncio.wait_for(anext(stream), 1)] == [second.id]


async def test_a_stopping_server_learns_of_answers_given_elsewhere(container: Container) -> None:
    """Shutdown waits for the jobs streams hold; one answered through another instance
    must not keep it waiting for the whole grace."""
    container.policy.override(QueuePolicy(lease_seconds=LEASE, idle_recheck_seconds=60))
    world = make_world(container, ManualClock())
    job = await world.enqueue()
    async with aclosing(world.streams.consume("w", ["email"])) as stream:
        assert [j.id for j in await anext(stream)] == [job.id]
        [done] = await apply_moves(
            container.store(), [(job.id, lambda j: Job.complete(j, None, None, world.clock.now()))]
        )
        assert done.unwrap().status is JobStatus.COMPLETED
        ending = asyncio.ensure_future(anext(stream, None))
        container.gate().close()

        await asyncio.wait_for(world.streams.drained(), 3)  # not the whole grace
        ending.cancel()
        await asyncio.gather(ending, return_exceptions=True)


class PausingStore(MemoryJobStore):
    """The memory store, whose next read can be held until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_next_read: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def get(self, job_ids: Sequence[str]) -> dict[str, Job]:
        if (release := self.hold_next_read) is not None:
            self.hold_next_read = None
            self.reading.set()
            await release.wait()
        return await super().get(job_ids)


async def test_a_recheck_acts_only_on_its_own_stream(container: Container) -> None:
    """A stream's re-check of what it holds reads the record; a job answered and delivered
    to another stream while that read ran stays held by the other stream."""
    store = PausingStore()
    container.backend.override(providers.Singleton(MemoryBackend, container.clock, store))
    container.policy.override(QueuePolicy(lease_seconds=LEASE, idle_recheck_seconds=0.05))
    world = make_world(container, ManualClock())
    job = await world.enqueue()
    release = asyncio.Event()
    async with aclosing(world.streams.consume("a", ["email"])) as first:
        [held] = await anext(first)
        store.hold_next_read = release
        recheck = asyncio.ensure_future(anext(first))  # parks, re-checks, and its read is held
        await asyncio.wait_for(store.reading.wait(), 1)

        [failed] = await world.acks.fail([Failure(job.id, "x", "a", held.lease_token)])
        assert failed.unwrap().status is JobStatus.QUEUED
        [now_due] = await world.job_admin.run_now([job.id])
        now_due.unwrap()
        async with aclosing(world.streams.consume("b", ["email"])) as second:
            [again] = await anext(second)
            assert (again.id, again.lease_token) == (job.id, held.lease_token + 1)
            release.set()  # the first stream's read now sees the second delivery
            await asyncio.sleep(0.2)
            recheck.cancel()
            await asyncio.gather(recheck, return_exceptions=True)
        # The second stream held it, so closing it handed it back at once.
        assert (await world.job_admin.get(job.id)).status is JobStatus.QUEUED
