"""Claim rounds: streams claiming the same job types at once share one claim, the
first to ask gets the best job, and a caller who leaves hands its jobs back."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

from dependency_injector import providers

from stackduck.application.ports import Claimer
from stackduck.container import Container
from stackduck.domain.job import Job, JobStatus
from tests.unit.application.conftest import ManualClock, World, make_world


class Recorder:
    """The memory backend's claimer, recording the owners of each claim; with ``gate``
    set, a claim waits for it before it reaches the store."""

    def __init__(self, claimer: Claimer) -> None:
        self._claimer = claimer
        self.calls: list[tuple[list[str], frozenset[str]]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def claim(
        self, owners: Sequence[str], job_types: Collection[str], now: float, lease_seconds: float
    ) -> list[Job]:
        self.calls.append((list(owners), frozenset(job_types)))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return await self._claimer.claim(owners, job_types, now, lease_seconds)


def recorded(container: Container, clock: ManualClock) -> tuple[World, Recorder]:
    recorder = Recorder(container.claimer())
    container.claimer.override(providers.Object(recorder))
    return make_world(container, clock), recorder


async def test_streams_claiming_at_once_share_one_claim_the_first_gets_the_best(
    container: Container, clock: ManualClock
) -> None:
    world, recorder = recorded(container, clock)
    low = await world.enqueue(priority=3)
    high = await world.enqueue(priority=1)

    first, second, third = await asyncio.gather(
        world.claim(worker="w1"), world.claim(worker="w2"), world.claim(worker="w3", limit=2)
    )

    assert recorder.calls == [(["w1", "w2", "w3", "w3"], frozenset({"email"}))]
    assert [(j.id, j.lease_owner) for j in first] == [(high.id, "w1")]
    assert [(j.id, j.lease_owner) for j in second] == [(low.id, "w2")]
    assert third == []


async def test_claims_of_different_job_types_are_not_shared(container: Container, clock: ManualClock) -> None:
    world, recorder = recorded(container, clock)
    email, sms = await world.enqueue("email"), await world.enqueue("sms")

    got = await asyncio.gather(world.claim("email", worker="a"), world.claim("sms", worker="b"))

    assert [[j.id for j in jobs] for jobs in got] == [[email.id], [sms.id]]
    assert sorted(calls for calls, _ in recorder.calls) == [["a"], ["b"]]


async def test_a_claim_arriving_during_another_waits_for_the_next_round(
    container: Container, clock: ManualClock
) -> None:
    world, recorder = recorded(container, clock)
    jobs = [await world.enqueue() for _ in range(3)]
    recorder.gate = asyncio.Event()
    first = asyncio.ensure_future(world.claim(worker="w1"))
    await recorder.entered.wait()
    later = [asyncio.ensure_future(world.claim(worker=f"w{n}")) for n in (2, 3)]
    await asyncio.sleep(0)
    recorder.gate.set()

    got = await asyncio.gather(first, *later)

    assert [owners for owners, _ in recorder.calls] == [["w1"], ["w2", "w3"]]
    assert [j.id for claimed in got for j in claimed] == [j.id for j in jobs]


async def test_the_jobs_of_a_caller_who_left_mid_claim_go_back_at_once(
    container: Container, clock: ManualClock
) -> None:
    world, recorder = recorded(container, clock)
    job = await world.enqueue()
    recorder.gate = asyncio.Event()
    leaving = asyncio.ensure_future(world.claim(worker="gone"))
    await recorder.entered.wait()
    leaving.cancel()
    recorder.gate.set()
    await asyncio.sleep(0.01)

    assert (await world.job_admin.get(job.id)).status is JobStatus.QUEUED
    [again] = await world.claim(worker="w2")
    assert (again.id, again.lease_owner) == (job.id, "w2")
