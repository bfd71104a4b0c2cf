"""The use-cases wired by the real container on the memory adapters, with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from stackduck.adapters.memory import ManualClock
from stackduck.application.acks import Acks
from stackduck.application.admin import Admin
from stackduck.application.dispatch import Dispatcher
from stackduck.application.enqueue import Producer
from stackduck.application.leases import LeaseReaper
from stackduck.application.ready import ReadyPath
from stackduck.container import Container, build_container
from stackduck.domain.job import Job
from stackduck.domain.rules import JobRequest
from stackduck.settings import Settings

LEASE = 60.0


@dataclass
class World:
    clock: ManualClock
    producer: Producer
    dispatcher: Dispatcher
    acks: Acks
    admin: Admin
    ready: ReadyPath
    reaper: LeaseReaper

    async def enqueue(self, job_type: str = "email", payload: str = "{}", **fields: object) -> Job:
        [job] = await self.producer.enqueue([JobRequest(job_type, payload, **fields)])  # type: ignore[arg-type]
        return job

    async def claim(self, *types: str, worker: str = "w1", limit: int = 1) -> list[Job]:
        return await self.dispatcher.claim(worker, types or ("email",), limit)

    async def advance(self, seconds: float) -> None:
        """Move time on and run the background duties that are due (no sleeping)."""
        self.clock.advance(seconds)
        await self.reaper.expire_due()
        await self.ready.promote_due()


def make_world(container: Container, clock: ManualClock) -> World:
    container.clock.override(clock)
    return World(
        clock=clock,
        producer=container.producer(),
        dispatcher=container.dispatcher(),
        acks=container.acks(),
        admin=container.admin(),
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
