"""The ports as each storage configuration provides them, for the contract suites."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackduck.adapters.clock import SystemClock
from stackduck.adapters.memory import MemoryNotifier, MemoryReadyQueue
from stackduck.adapters.sqlite.database import Database
from stackduck.adapters.sqlite.store import SCHEMA, SqliteJobStore
from stackduck.application.ids import JobIds
from stackduck.application.ports import Claimer, JobStore, Notifier, QueueEntry, ReadyQueue, Schedule
from stackduck.application.queue_claimer import QueueClaimer
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
    async for make in _configured(request, request.param):
        yield make


async def _configured(request: pytest.FixtureRequest, storage: str) -> AsyncIterator[PortsFactory]:
    """Ports from a container of the storage configuration named (its services started)."""
    settings = storage_env(request, storage)
    containers: list[Container] = []

    async def make() -> Ports:
        container = build_container(Settings(**settings))
        containers.append(container)
        return Ports(
            container,
            await provide(container.store),
            await provide(container.claimer),
            await provide(container.queue),
            await provide(container.schedule),
            await provide(container.notifier),
            JobIds(),
        )

    yield make
    for container in containers:
        await close_resources(container)


@pytest.fixture(params=[*STORAGES, "sqlite"])
async def make_store_ports(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PortsFactory]:
    """The record's ports on every configuration and on a SQLite file (whose backend is
    not whole yet: its record under a memory queue, as it will serve)."""
    if request.param != "sqlite":
        async for make in _configured(request, request.param):
            yield make
        return
    databases: list[Database] = []

    async def make() -> Ports:
        database = Database(tmp_path / "stackduck.db")
        await database.open(SCHEMA)
        databases.append(database)
        store = SqliteJobStore(database)
        queue = MemoryReadyQueue()
        notifier = MemoryNotifier()
        claimer = QueueClaimer(queue, store, SystemClock(), notifier)
        return Ports(None, store, claimer, queue, queue, notifier, JobIds())  # type: ignore[arg-type]

    yield make
    for database in databases:
        await database.close()


@pytest.fixture
async def ports(make_ports: PortsFactory) -> Ports:
    made: Ports = await make_ports()
    return made
