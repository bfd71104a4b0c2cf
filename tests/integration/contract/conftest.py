"""The ports as each storage configuration provides them, for the contract suites."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from stackduck.application.ids import JobIds
from stackduck.application.ports import Claimer, JobStore, Notifier, QueueEntry, ReadyQueue, Schedule
from stackduck.container import Container, build_container, close_resources, provide
from stackduck.domain.job import Job
from stackduck.domain.rules import JobSpec
from stackduck.settings import Settings
from tests.conftest import STORAGES, storage_env

NOW = 1_800_000_000.0


@dataclass
class Ports:
    container: Container
    store: JobStore
    claimer: Claimer
    queue: ReadyQueue | None  # None where the record's own writes keep the queue
    schedule: Schedule
    notifier: Notifier
    ids: JobIds

    def job(self, job_type: str = "t", priority: int = 2, run_at: float = NOW, **fields: Any) -> Job:
        spec = JobSpec(
            job_type, fields.pop("payload", "{}"), priority, 30, fields.pop("max_retries", 2), run_at
        )
        job = Job.new(self.ids.new(NOW), spec, NOW)
        for name, value in fields.items():
            setattr(job, name, value)
        return job

    async def add(self, *jobs: Job, key_seconds: float = 0.0) -> list[Job]:
        """What enqueue does: commit, then make findable (jobs all new: no key held)."""
        assert await self.store.insert(jobs, key_seconds) == [job.id for job in jobs]
        await self.push([QueueEntry.of(job) for job in jobs], NOW)
        return list(jobs)

    async def push(self, entries: list[QueueEntry], now: float) -> None:
        """What the ready path does with entries: push them to the ready queue, where the
        configuration keeps one beside the record."""
        if self.queue is not None:
            await self.queue.push(entries, now)


PortsFactory = Callable[[], Any]


@pytest.fixture(params=STORAGES)
async def make_ports(request: pytest.FixtureRequest) -> AsyncIterator[PortsFactory]:
    """Ports of the storage configuration, one instance a call; on SQLite, whose data
    one process owns, every call gives the one instance."""
    settings = storage_env(request, request.param)
    containers: list[Container] = []
    made: list[Ports] = []

    async def make() -> Ports:
        if made and request.param == "sqlite":
            return made[0]
        container = build_container(Settings(**settings))
        containers.append(container)
        ports = Ports(
            container,
            await provide(container.store),
            await provide(container.claimer),
            await provide(container.queue),
            await provide(container.schedule),
            await provide(container.notifier),
            JobIds(),
        )
        made.append(ports)
        return ports

    yield make
    for container in containers:
        await close_resources(container)


@pytest.fixture
async def ports(make_ports: PortsFactory) -> Ports:
    made: Ports = await make_ports()
    return made
