"""Enqueue with idempotency keys (memory store, manual clock): a repeated key names the
first job, within one request, across requests that share a commit, and when the
repeat was promised to a waiting stream (ADR 0013)."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from stackduck.application.producer import Enqueued
from stackduck.container import Container
from stackduck.domain.job import JobStatus
from stackduck.domain.rules import JobRequest
from tests.unit.application.conftest import Inserts, World, parked_on


def request(key: str, payload: str = "{}") -> JobRequest:
    return JobRequest("email", payload, idempotency_key=key)


async def test_a_repeated_key_names_the_first_job_and_creates_nothing(world: World) -> None:
    [first] = await world.producer.enqueue([request("k", '{"n": 1}')])
    [again] = await world.producer.enqueue([request("k", '{"n": 2}')])

    assert first.job is not None and not first.duplicate
    assert again == Enqueued(first.job_id, True, None)
    assert (await world.job_admin.counts())["queued"] == 1
    assert (await world.job_admin.get(first.job_id)).payload == '{"n": 1}'


async def test_requests_that_share_a_commit_make_one_job_of_a_key(world: World, inserts: Inserts) -> None:
    inserts.gate = asyncio.Event()
    blocking = asyncio.ensure_future(world.enqueue())
    await inserts.called.wait()  # a commit in flight: the next requests pile up behind it
    racing = [
        asyncio.ensure_future(world.producer.enqueue([request("k", f'{{"n": {n}}}')])) for n in range(3)
    ]
    await asyncio.sleep(0)
    inserts.gate.set()

    results = [enqueued for [enqueued] in await asyncio.gather(*racing)]
    await blocking

    assert [len(batch) for batch in inserts.seen] == [1, 3]  # the three shared one commit
    assert len({e.job_id for e in results}) == 1
    assert [e.duplicate for e in results] == [False, True, True]
    assert (await world.job_admin.counts())["queued"] == 2


async def test_a_duplicate_promised_to_a_waiting_stream_frees_its_slot(
    world: World, container: Container, inserts: Inserts
) -> None:
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=3)) as stream:
        waiting = await parked_on(stream, container)

        results = await world.producer.enqueue([request("k"), request("k"), request("")])

        handed = await asyncio.wait_for(waiting, 1)
        assert inserts.seen == [[(JobStatus.RUNNING, "w")] * 3]  # all three were promised to it
        assert [j.id for j in handed] == [results[0].job_id, results[2].job_id]
        assert results[1].duplicate and results[1].job_id == results[0].job_id
        [consumer] = container.consumers().consumers
        assert (consumer.reserved, len(consumer.held), consumer.free_slots) == (0, 2, 1)
        assert (await world.job_admin.counts())["running"] == 2
