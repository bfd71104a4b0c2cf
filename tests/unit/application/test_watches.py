"""WatchJob's use-case on the memory configuration: the job now, each change, the end."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from stackduck.application.acks import Ack
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Change
from stackduck.container import Container
from stackduck.domain.errors import JobNotFound, LimitExceeded, ShuttingDown
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.rules import JobRequest
from tests.unit.application.conftest import LEASE, World


async def test_a_watch_yields_the_job_then_each_change_until_it_ends(
    world: World, container: Container
) -> None:
    job = await world.enqueue()
    watches = container.watches()
    async with aclosing(watches.watch(job.id)) as events:
        assert (await anext(events)).status is JobStatus.QUEUED

        await world.claim()
        running = await asyncio.wait_for(anext(events), 1)
        assert (running.status, running.attempt) == (JobStatus.RUNNING, 1)
        await world.acks.heartbeat([Ack(job.id)])
        beaten = await asyncio.wait_for(anext(events), 1)
        assert beaten.version > running.version and beaten.status is JobStatus.RUNNING
        await world.acks.complete([Ack(job.id, result='"ok"')])

        done = await asyncio.wait_for(anext(events), 1)
        assert (done.status, done.result) == (JobStatus.COMPLETED, '"ok"')
        with pytest.raises(StopAsyncIteration):
            await anext(events)


async def test_a_change_between_the_first_read_and_the_wait_is_not_missed(
    world: World, container: Container
) -> None:
    job = await world.enqueue()
    async with aclosing(container.watches().watch(job.id)) as events:
        await anext(events)
        await world.job_admin.cancel([job.id])  # before the watcher waits

        assert (await asyncio.wait_for(anext(events), 1)).status is JobStatus.CANCELLED


async def test_an_unknown_job_is_not_found(container: Container) -> None:
    with pytest.raises(JobNotFound):
        await anext(container.watches().watch("0192f0c4-0000-7000-8000-000000000000"))


async def test_watches_past_the_limit_are_refused_and_a_closed_one_frees_its_place(
    container: Container,
) -> None:
    container.policy.override(QueuePolicy(lease_seconds=LEASE, max_watch_streams=1))
    [enqueued] = await container.producer().enqueue([_request()])
    job = enqueued.job
    assert job is not None
    watches = container.watches()
    first = watches.watch(job.id)
    await anext(first)

    with pytest.raises(LimitExceeded, match="STACKDUCK_MAX_WATCH_STREAMS"):
        await anext(watches.watch(job.id))
    await first.aclose()
    second = watches.watch(job.id)
    assert (await anext(second)).id == job.id
    await second.aclose()


async def test_closing_the_gate_ends_every_watch(world: World, container: Container) -> None:
    job = await world.enqueue()
    async with aclosing(container.watches().watch(job.id)) as events:
        await anext(events)
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.01)

        container.gate().close()

        with pytest.raises(ShuttingDown):
            await asyncio.wait_for(waiting, 1)


async def test_a_lost_notice_is_made_good_by_the_recheck(container: Container) -> None:
    """A change no signal announced (a lost message) is read at the next re-read."""
    container.policy.override(QueuePolicy(lease_seconds=LEASE, watch_recheck_seconds=0.05))
    [enqueued] = await container.producer().enqueue([_request()])
    job = enqueued.job
    assert job is not None
    async with aclosing(container.watches().watch(job.id)) as events:
        await anext(events)
        store = container.store()
        stored = (await store.get([job.id]))[job.id]
        moved = stored.copy()
        Job.cancel(moved, stored.updated_at + 1)
        assert await store.apply([Change(moved, stored.version)]) == [True]

        assert (await asyncio.wait_for(anext(events), 1)).status is JobStatus.CANCELLED


def _request() -> JobRequest:
    return JobRequest("email", "{}")
