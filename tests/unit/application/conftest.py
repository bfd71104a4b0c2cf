"""The use-cases wired by the real container on the memory adapters, with a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from stackduck.adapters.memory import ManualClock
from stackduck.application.acks import Acks
from stackduck.application.claims import Claims
from stackduck.application.handoff import DirectHandoff
from stackduck.application.job_admin import JobAdmin
from stackduck.application.leases import LeaseReaper
from stackduck.application.producer import Producer
from stackduck.application.ready_path import ReadyPath
from stackduck.application.streams import Streams
from stackduck.container import Container, build_container
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.rules import JobRequest
from stackduck.settings import Settings

LEASE = 60.0


@dataclass
class World:
    clock: ManualClock
    producer: Producer
    claims: Claims
    streams: Streams
    handoff: DirectHandoff
    acks: Acks
    job_admin: JobAdmin
    ready: ReadyPath
    reaper: LeaseReaper

    async def enqueue(self, job_type: str = "email", payload: str = "{}", **fields: object) -> Job:
        [enqueued] = await self.producer.enqueue([JobRequest(job_type, payload, **fields)])  # type: ignore[arg-type]
        assert enqueued.job is not None, "a duplicate: no job was created"
        return enqueued.job

    async def claim(self, *types: str, worker: str = "w1", limit: int = 1) -> list[Job]:
        return await self.claims.claim(worker, types or ("email",), limit)

    async def advance(self, seconds: float) -> None:
        """Move time on and run the background maintenance that is due (no sleeping)."""
        self.clock.advance(seconds)
        await self.reaper.expire_due()
        await self.ready.promote_due()


def make_world(container: Container, clock: ManualClock) -> World:
    container.clock.override(clock)
    return World(
        clock=clock,
        producer=container.producer(),
        claims=container.claims(),
        streams=container.streams(),
        handoff=container.handoff(),
        acks=container.acks(),
        job_admin=container.job_admin(),
        ready=container.ready(),
        reaper=container.reaper(),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def container() -> Iterator[Container]:
    container = build_container(
        Settings(STACKDUCK_STORAGE="memory", STACKDUCK_LEASE_SECONDS=LEASE, STACKDUCK_MAX_PAYLOAD_BYTES=1024)
    )
    yield container
    container.unwire()


@pytest.fixture
def world(container: Container, clock: ManualClock) -> World:
    return make_world(container, clock)


# -- direct hand-off: watching the store's inserts, and streams that wait ------------------


class Inserts:
    """Records what the store is asked to insert; can hold an insert or fail it."""

    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        store = container.store()
        self._insert = store.insert
        self.seen: list[list[tuple[JobStatus, str | None]]] = []
        self.gate: asyncio.Event | None = None
        self.failure: Exception | None = None
        self.fail_after_writing = False
        self.called = asyncio.Event()
        monkeypatch.setattr(store, "insert", self.insert)

    async def insert(self, jobs: Sequence[Job], key_seconds: float = 0.0) -> list[str]:
        self.seen.append([(job.status, job.lease_owner) for job in jobs])
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            if self.fail_after_writing:  # committed, but the answer was lost on the way back
                await self._insert(jobs, key_seconds)
            raise failure
        return await self._insert(jobs, key_seconds)


@pytest.fixture
def inserts(container: Container, monkeypatch: pytest.MonkeyPatch) -> Inserts:
    return Inserts(container, monkeypatch)


async def parked(container: Container, streams: int = 1) -> None:
    """Until ``streams`` streams wait on this server after finding nothing to claim."""
    for _ in range(200):
        if len(container.consumers().parked) >= streams:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the stream never parked")


async def parked_on(stream: AsyncGenerator[Any, None], container: Container) -> asyncio.Future[Any]:
    """Ask the stream for its next jobs and return once it is parked waiting for them."""
    waiting = asyncio.ensure_future(anext(stream))
    await parked(container)
    return waiting
