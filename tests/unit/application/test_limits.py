"""Limits in the use-cases, on memory: a claim of a limited type goes through the limit
store; hand-offs skip limited types; what wakes a held-back stream."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import aclosing

from stackduck.application.acks import Ack
from stackduck.application.limits import Limits
from stackduck.container import Container
from stackduck.domain.job import JobStatus
from tests.unit.application.conftest import Inserts, World


def limits_of(container: Container) -> Limits:
    limits: Limits = container.limits()
    return limits


async def test_a_claim_leases_no_more_than_the_concurrency_allows(world: World, container: Container) -> None:
    await limits_of(container).set_limit("email", concurrency=2)
    jobs = [await world.enqueue() for _ in range(4)]
    first = await world.claim(limit=10)
    assert [job.id for job in first] == [job.id for job in jobs[:2]]
    assert await world.claim(limit=10) == []
    await world.acks.complete([Ack(first[0].id)])
    assert [job.id for job in await world.claim(limit=10)] == [jobs[2].id]


async def test_an_unlimited_type_claims_beside_a_limited_one(world: World, container: Container) -> None:
    await limits_of(container).set_limit("email", concurrency=1)
    for _ in range(3):
        await world.enqueue("email", priority=1)
    others = [await world.enqueue("report", priority=3) for _ in range(2)]
    got = await world.claim("email", "report", limit=10)
    assert sorted(job.job_type for job in got) == ["email", "report", "report"]
    assert {job.id for job in got} >= {job.id for job in others}


async def test_a_cleared_limit_lets_held_jobs_go(world: World, container: Container) -> None:
    limits = limits_of(container)
    await limits.set_limit("email", concurrency=1)
    for _ in range(3):
        await world.enqueue()
    assert len(await world.claim(limit=10)) == 1
    assert await limits.clear_limit("email") is True
    assert len(await world.claim(limit=10)) == 2
    assert await limits.clear_limit("email") is False


async def test_a_limited_type_takes_the_queue_not_the_hand_off(
    world: World, container: Container, inserts: Inserts
) -> None:
    await limits_of(container).set_limit("email", concurrency=5)
    async with aclosing(world.streams.consume("w1", ["email"], 5)) as stream:
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.01)  # parked, with room
        job = await world.enqueue()
        assert inserts.seen[-1] == [(JobStatus.QUEUED, None)]  # not inserted leased
        got = await asyncio.wait_for(waiting, 1)
        assert [j.id for j in got] == [job.id]


async def test_a_stream_held_by_the_rate_is_woken_at_the_next_token(
    world: World, container: Container
) -> None:
    limits = limits_of(container)
    await limits.set_limit("email", rate=20, burst=1)  # a token every 50 ms
    for _ in range(3):
        await world.enqueue()
    got: list[str] = []
    async with aclosing(world.streams.consume("w1", ["email"], 10)) as stream:

        async def read() -> None:
            async for jobs in stream:
                got.extend(job.id for job in jobs)  # type: ignore[union-attr]

        reading = asyncio.ensure_future(read())
        await asyncio.sleep(0.01)
        assert len(got) == 1
        world.clock.advance(0.05)  # the bucket's clock; the timer runs on the loop's
        await asyncio.sleep(0.1)
        assert len(got) == 2
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    limits.close()


async def test_a_held_back_stream_is_woken_when_a_running_job_ends(
    world: World, container: Container
) -> None:
    await limits_of(container).set_limit("email", concurrency=1)
    jobs = [await world.enqueue() for _ in range(2)]
    async with aclosing(world.streams.consume("w1", ["email"], 10)) as stream:
        first = await anext(stream)
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await world.acks.fail([_failure(first[0].id)])  # dead: no retries left
        got = await asyncio.wait_for(waiting, 1)
        assert [j.id for j in got] == [jobs[1].id]  # type: ignore[union-attr]


def _failure(job_id: str):  # type: ignore[no-untyped-def]
    from stackduck.application.acks import Failure

    return Failure(job_id, "broken", retry=False)
