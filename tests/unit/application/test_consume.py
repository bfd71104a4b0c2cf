"""An open stream, driven directly: in-flight limit, hand-back on close, acks from elsewhere."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from stackduck.adapters.memory import ManualClock
from stackduck.application.acks import Ack
from stackduck.application.moves import apply_moves
from stackduck.application.policy import QueuePolicy
from stackduck.container import Container
from stackduck.domain.job import Job, JobStatus
from tests.unit.application.conftest import LEASE, World, make_world


async def test_a_stream_holds_at_most_its_limit_and_gets_more_after_an_ack(world: World) -> None:
    jobs = [await world.enqueue() for _ in range(3)]
    async with aclosing(world.dispatcher.consume("w", ["email"], max_in_flight=2)) as stream:
        first = await anext(stream)
        assert [j.id for j in first] == [j.id for j in jobs[:2]]
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.05)
        assert not waiting.done()

        await world.acks.complete([Ack(jobs[0].id)])

        assert [j.id for j in await asyncio.wait_for(waiting, 1)] == [jobs[2].id]


async def test_closing_a_stream_hands_its_jobs_back_without_a_failure(world: World) -> None:
    job = await world.enqueue()
    async with aclosing(world.dispatcher.consume("w", ["email"])) as stream:
        await anext(stream)
        assert (await world.admin.get(job.id)).status is JobStatus.RUNNING

    back = await world.admin.get(job.id)
    assert (back.status, back.retry_count, back.lease_owner) == (JobStatus.QUEUED, 0, None)
    [again] = await world.claim(worker="other")
    assert (again.id, again.lease_token) == (job.id, 2)


async def test_a_job_answered_elsewhere_frees_its_slot_after_a_recheck(container: Container) -> None:
    container.policy.override(QueuePolicy(lease_seconds=LEASE, idle_recheck_seconds=0.05))
    world = make_world(container, ManualClock())
    first, second = await world.enqueue(), await world.enqueue()
    async with aclosing(world.dispatcher.consume("w", ["email"])) as stream:
        assert [j.id for j in await anext(stream)] == [first.id]

        # Completed through the store alone, as another server instance would.
        [done] = await apply_moves(
            container.store(), [(first.id, lambda job: Job.complete(job, None, None, world.clock.now()))]
        )
        assert done.unwrap().status is JobStatus.COMPLETED

        assert [j.id for j in await asyncio.wait_for(anext(stream), 1)] == [second.id]
