"""The use-cases wired by the real container on the memory adapters, with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
from stackduck.domain.job import Job
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
        [job] = await self.producer.enqueue([JobRequest(job_type, payload, **fields)])  # type: ignore[arg-type]
        return job

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
    container = build_container(Settings(STACKDUCK_LEASE_SECONDS=LEASE, STACKDUCK_MAX_PAYLOAD_BYTES=1024))
    yield container
    container.unwire()


@pytest.fixture
def world(container: Container, clock: ManualClock) -> World:
    return make_world(container, clock)
