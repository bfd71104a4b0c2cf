"""Claims on PostgreSQL lock one index scan's worth of rows per priority (and type), and
take only the best ``limit`` of them: a claim running meanwhile skips the rest and can
come back empty with jobs ready. What was passed over is announced, so the stream that
came back empty looks again at once instead of at its idle re-check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.adapters.postgres.queries import sql
from stackduck.application.ids import JobIds
from stackduck.application.ports import Claimer, JobStore, Notifier
from stackduck.container import build_container, close_resources, provide
from stackduck.domain.job import Job
from stackduck.domain.rules import JobSpec
from stackduck.settings import Settings

NOW = 1_800_000_000.0
LEASE = 30.0


@pytest.fixture
async def ports(postgres: str) -> AsyncIterator[tuple[JobStore, Claimer, Notifier]]:
    container = build_container(Settings(DATABASE_URL=postgres, REDIS_URL=None))
    notifier = await provide(container.notifier)
    assert isinstance(notifier, BroadcastNotifier)
    # Once it listens: its first subscription wakes every stream, which would count.
    await asyncio.wait_for(notifier.listening.wait(), 10)
    yield await provide(container.store), await provide(container.claimer), notifier
    await close_resources(container)


async def _add(store: JobStore, job_type: str, per_priority: int, priorities: tuple[int, ...]) -> None:
    ids = JobIds()
    spec = {p: JobSpec(job_type, "{}", p, 30, 2, NOW) for p in priorities}
    await store.insert([Job.new(ids.new(NOW), spec[p], NOW) for p in priorities for _ in range(per_priority)])


async def test_a_claim_meanwhile_comes_back_empty_and_what_was_passed_over_is_announced(
    ports: tuple[JobStore, Claimer, Notifier], postgres: str
) -> None:
    store, claimer, notifier = ports
    await _add(store, "t", 10, (1, 2, 3))
    # A claim of 10 that has not committed yet holds 30 rows: one taken and two passed over.
    async with await psycopg.AsyncConnection.connect(postgres) as holder:
        cursor = await holder.execute(
            sql("claim"),
            {"job_types": ["t"], "now": NOW, "limit": 10, "worker_id": "a", "lease_seconds": LEASE},
        )
        held = await cursor.fetchall()
        assert len(held) == 10 and held[0][-1] == 30
        assert await claimer.claim(["b"] * 10, ["t"], NOW, LEASE) == []  # 20 ready, none free to it
        await holder.commit()

    # This server's own claim says what it passed over, once it has committed.
    waiting, elsewhere = notifier.listen(["t"]), notifier.listen(["other"])
    before = notifier.announced(["t"])
    taken = await claimer.claim(["c"] * 5, ["t"], NOW, LEASE)  # 5 of priority 2; 5 of 3 passed over
    assert [job.priority for job in taken] == [2] * 5
    assert await waiting.wait(1.0) is True
    assert notifier.announced(["t"]) > before
    assert await elsewhere.wait(0.05) is False
    assert len(await claimer.claim(["b"] * 20, ["t"], NOW, LEASE)) == 15  # nothing was lost on the way


async def test_a_claim_that_takes_all_it_locked_announces_nothing(
    ports: tuple[JobStore, Claimer, Notifier],
) -> None:
    store, claimer, notifier = ports
    await _add(store, "u", 30, (2,))
    waiting = notifier.listen(["u"])
    before = notifier.announced(["u"])
    assert len(await claimer.claim(["w"] * 10, ["u"], NOW, LEASE)) == 10
    assert notifier.announced(["u"]) == before
    assert await waiting.wait(0.05) is False
