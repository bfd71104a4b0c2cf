"""Retention against a move that holds the row: a dead letter re-queued while the
prune waits on its lock must survive the prune."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from stackduck.application.ports import Change, JobStore
from stackduck.container import build_container, close_resources, provide
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec
from stackduck.settings import Settings

NOW = 1_800_000_000.0


@pytest.fixture
async def store(postgres: str) -> AsyncIterator[JobStore]:
    container = build_container(Settings(DATABASE_URL=postgres, REDIS_URL=None))
    yield await provide(container.store)
    await close_resources(container)


async def _someone_waits_on_a_lock(watcher: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
    cursor = await watcher.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    row = await cursor.fetchone()
    return row is not None and int(str(row[0])) > 0


async def test_a_dead_letter_requeued_while_the_prune_waits_is_kept(store: JobStore, postgres: str) -> None:
    job = Job.new("01900000-0000-7000-8000-000000000001", JobSpec("t", "{}", 2, 30, 0, NOW), NOW)
    await store.insert([job])
    version = job.version
    job.start("w", NOW, 60)
    job.fail("w", None, NOW, "x", RetryPolicy(), retry=False)
    assert (await store.apply([Change(job, version)])) == [True]

    async with (
        await psycopg.AsyncConnection.connect(postgres) as mover,
        await psycopg.AsyncConnection.connect(postgres, autocommit=True) as watcher,
    ):
        # The re-queue has taken the row and not committed yet.
        await mover.execute(
            "UPDATE stackduck_jobs SET status = 'queued', completed_at = NULL, retry_count = 0, "
            "version = version + 1 WHERE id = %s",
            (job.id,),
        )
        prune = asyncio.create_task(store.prune([JobStatus.FAILED], NOW + 10, 100))
        for _ in range(250):  # until the prune waits on the row
            if await _someone_waits_on_a_lock(watcher):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the prune never waited on the row")
        await mover.commit()
        assert await asyncio.wait_for(prune, 10) == 0

    stored = (await store.get([job.id]))[job.id]
    assert stored.status is JobStatus.QUEUED
