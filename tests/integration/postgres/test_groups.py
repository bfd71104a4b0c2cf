"""Fair groups on PostgreSQL: every write that queues a grouped job keeps its group's row
in the turns (stackduck_groups), atomically with the job, also against a claim that
deletes the row meanwhile; a claim reads only what it takes, however many groups wait;
concurrent enqueues and claims never lose a job nor lease one twice."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg
import pytest

from stackduck.adapters.backends.postgres import PostgresBackend
from stackduck.adapters.postgres.limits import PostgresLimits
from stackduck.adapters.postgres.store import SMALL_BATCH, PostgresJobStore
from stackduck.application.ids import JobIds
from stackduck.application.moves import apply_moves
from stackduck.container import build_container, close_resources, provide
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.limits import Limit
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec
from stackduck.settings import Settings

NOW = 1_800_000_000.0
LEASE = 30.0
T = "tenant-work"


@dataclass
class Postgres:
    backend: PostgresBackend
    store: PostgresJobStore
    limits: PostgresLimits
    url: str
    ids: JobIds

    def job(self, group: str = "", run_at: float = NOW, priority: int = 2, key: str = "") -> Job:
        spec = JobSpec(T, "{}", priority, 30, 2, run_at, idempotency_key=key, group_key=group)
        return Job.new(self.ids.new(NOW), spec, NOW)

    async def add(self, *jobs: Job) -> list[Job]:
        assert await self.store.insert(jobs) == [job.id for job in jobs]
        return list(jobs)

    async def claim(self, n: int, at: float = 0.0, worker: str = "w") -> list[Job]:
        claimed = await self.limits.claim(worker, [T], [T], [T], NOW + at, LEASE, n)
        return claimed.jobs

    def rows(self) -> dict[tuple[int, str], tuple[float, float, float]]:
        """The type's turns: (priority, group) → (served_at, head_at, parked_until)."""
        with psycopg.connect(self.url) as conn:
            found = conn.execute(
                "SELECT priority, group_key, served_at, head_at, parked_until FROM stackduck_groups "
                "WHERE job_type = %s",
                [T],
            ).fetchall()
        return {(p, g): (served, head, parked) for p, g, served, head, parked in found}


async def _open(url: str, pool_size: int = 4) -> tuple[Any, Postgres]:
    container = build_container(
        Settings(DATABASE_URL=url, REDIS_URL=None, STACKDUCK_DATABASE_POOL_SIZE=str(pool_size))  # type: ignore[arg-type]
    )
    backend = await provide(container.backend)
    assert isinstance(backend, PostgresBackend)
    return container, Postgres(backend, backend.store, backend.limits, url, JobIds())


@pytest.fixture
async def pg(postgres: str) -> AsyncIterator[Postgres]:
    container, made = await _open(postgres)
    yield made
    await close_resources(container)


async def test_every_insert_path_puts_the_groups_in_the_turns_with_their_heads(pg: Postgres) -> None:
    await pg.store.insert([pg.job("a", NOW - 5), pg.job("a", NOW - 9), pg.job("b", NOW + 60, priority=1)])
    copied = [pg.job(f"c{i % 3}", NOW - i) for i in range(SMALL_BATCH + 4)]  # by COPY
    await pg.store.insert(copied)
    await pg.store.insert([pg.job("k", NOW - 1, key="one"), pg.job("k", NOW - 2, key="one")])
    rows = pg.rows()
    assert {key: head for key, (_, head, _) in rows.items() if key[1]} == {
        (2, "a"): NOW - 9,
        (1, "b"): NOW + 60,
        (2, "c0"): NOW - 18,
        (2, "c1"): NOW - 19,
        (2, "c2"): NOW - 17,
        (2, "k"): NOW - 1,  # the duplicate of the key was not stored
    }
    # The type is marked as grouped: its ungrouped jobs are the group '' at each priority.
    assert {key for key in rows if not key[1]} == {(1, ""), (2, ""), (3, "")}
    assert await pg.limits.grouped() == {T}


async def test_ungrouped_writes_leave_the_turns_alone(pg: Postgres) -> None:
    await pg.store.insert([pg.job() for _ in range(3)])
    await pg.store.insert([pg.job() for _ in range(SMALL_BATCH + 1)])
    await pg.store.insert([pg.job(key="k")])
    assert pg.rows() == {}
    assert await pg.limits.grouped() == frozenset()


async def test_every_move_that_queues_a_grouped_job_puts_its_group_back(pg: Postgres) -> None:
    policy = RetryPolicy()
    [job] = await pg.add(pg.job("a", NOW - 1))

    async def lease_then(move: Any, at: float) -> Job:
        """Lease the job at NOW + at (its group emptied: out of the turns), then move it."""
        [leased] = await pg.claim(1, at=at)
        assert (2, "a") not in pg.rows()
        [outcome] = await apply_moves(pg.store, [(job.id, move(leased, NOW + at))])
        assert outcome.job is not None
        return outcome.job

    released = await lease_then(
        lambda j, t: partial(Job.release, worker_id="w", token=j.attempt, now=t + 1), 0
    )
    assert pg.rows()[2, "a"][1] == released.run_at == job.run_at  # its place in line
    retried = await lease_then(
        lambda j, t: partial(
            Job.fail, worker_id="w", token=j.attempt, now=t + 1, error_message="x", policy=policy
        ),
        1,
    )
    assert retried.status is JobStatus.QUEUED and pg.rows()[2, "a"][1] == retried.run_at
    expired = await lease_then(lambda j, t: partial(Job.expire, now=t + LEASE, policy=policy), 1000)
    assert expired.status is JobStatus.QUEUED and pg.rows()[2, "a"][1] == expired.run_at
    dead = await lease_then(
        lambda j, t: partial(
            Job.fail, worker_id="w", token=j.attempt, now=t + 1, error_message="x", policy=policy, retry=False
        ),
        2000,
    )
    assert dead.status is JobStatus.FAILED and (2, "a") not in pg.rows()
    await apply_moves(pg.store, [(job.id, partial(Job.requeue, now=NOW + 3000))])
    assert pg.rows()[2, "a"][1] == NOW + 3000
    [later] = await pg.add(pg.job("b", NOW + 10_000))
    await apply_moves(pg.store, [(later.id, partial(Job.run_now, now=NOW + 5))])
    assert pg.rows()[2, "b"][1] == NOW + 5


async def test_an_enqueue_waits_for_a_claim_that_empties_its_group_then_puts_it_back(pg: Postgres) -> None:
    [first] = await pg.add(pg.job("a", NOW - 1))
    # A claim that holds the group's row (groups/lock.sql) and deletes it, not yet committed.
    async with await psycopg.AsyncConnection.connect(pg.url) as claim:
        await claim.execute(
            "SELECT 1 FROM stackduck_groups WHERE job_type = %s AND group_key = 'a' FOR UPDATE", [T]
        )
        await claim.execute("DELETE FROM stackduck_groups WHERE job_type = %s AND group_key = 'a'", [T])
        enqueue = asyncio.ensure_future(pg.add(pg.job("a", NOW - 0.5)))
        await asyncio.sleep(0.3)
        assert not enqueue.done()  # it waits for the claim's outcome
        await claim.commit()
    [second] = await enqueue
    assert pg.rows()[2, "a"][1] == NOW - 0.5
    assert [job.id for job in await pg.claim(5)] == [first.id, second.id]


async def test_group_concurrency_holds_across_priorities_and_freed_brings_every_priority_back(
    pg: Postgres,
) -> None:
    await pg.limits.put(Limit.of(T, group_concurrency=1), NOW)
    await pg.add(pg.job("a", NOW - 2, priority=1), pg.job("a", NOW - 1, priority=2))
    [running] = await pg.claim(10)
    assert running.priority == 1
    assert pg.rows()[2, "a"][2] == NOW + 30  # parked
    assert await pg.claim(10, at=1) == []
    await apply_moves(pg.store, [(running.id, partial(Job.complete, worker_id="w", token=1, now=NOW + 2))])
    await pg.limits.freed(T, {"a"}, NOW + 2)
    assert pg.rows()[2, "a"][2] == 0
    assert [job.priority for job in await pg.claim(10, at=3)] == [2]


async def _reads(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    """Rows read so far from each table: by sequential scans, and entries by its indexes."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    cursor = await conn.execute(
        "SELECT t.relname, coalesce(t.seq_tup_read, 0) + coalesce(sum(i.idx_tup_read), 0) "
        "FROM pg_stat_user_tables AS t LEFT JOIN pg_stat_user_indexes AS i USING (relid) "
        "WHERE t.relname IN ('stackduck_groups', 'stackduck_jobs') GROUP BY t.relname, t.seq_tup_read"
    )
    return dict(await cursor.fetchall())


async def test_a_claim_reads_only_the_groups_it_takes_however_many_wait(postgres: str) -> None:
    # One connection does the work, so its statistics can be flushed when asked.
    container, pg = await _open(postgres, pool_size=1)
    try:
        due = [pg.job(f"due{g:04}", NOW - 100 + g / 100) for g in range(2_500)]
        later = [pg.job(f"later{g:04}", NOW + 3_600 + g) for g in range(2_500)]
        await pg.store.insert(due + later + [pg.job("due0000", NOW - 200 + i) for i in range(50)])
        async with await psycopg.AsyncConnection.connect(postgres, autocommit=True) as watcher:

            async def flushed() -> dict[str, int]:
                async with pg.backend.pool.connection() as conn:
                    await conn.execute("SELECT pg_stat_force_next_flush()")
                await asyncio.sleep(0.05)
                return await _reads(watcher)

            before = await flushed()
            taken = await pg.claim(10)
            after = await flushed()
            assert await pg.limits.grouped() == {T}
            types_read = (await flushed())["stackduck_groups"] - after["stackduck_groups"]
        assert sorted(job.group_key for job in taken) == ["due0000"] + [f"due{g:04}" for g in range(1, 10)]
        read = {table: after[table] - before[table] for table in after}
        # 10 groups locked and 3 group '' rows read; of the jobs, 10 heads, 10 next heads,
        # 10 locked and 10 leased, by index: nothing of the other 4,990 groups (41 and 13
        # when this was written; a plan that scanned read 2,581 jobs).
        assert read["stackduck_groups"] <= 20, read
        assert read["stackduck_jobs"] <= 60, read
        assert 1 <= types_read <= 3  # which types have groups: a probe a type, and one past the last
    finally:
        await close_resources(container)


async def test_racing_enqueues_and_claims_lose_no_job_and_lease_none_twice(pg: Postgres) -> None:
    other_container, other = await _open(pg.url)
    groups = [f"g{g}" for g in range(8)]
    enqueued: list[str] = []
    leased: list[Job] = []
    rng = random.Random(7)

    async def enqueue(round_: int) -> None:
        for _ in range(5):
            picked = rng.sample(groups, 4)  # overlapping groups, in different orders
            batch = [pg.job(g, NOW - rng.random()) for g in picked]
            if round_ % 2:
                batch += [pg.job(g, NOW - rng.random()) for g in picked for _ in range(SMALL_BATCH // 4)]
            enqueued.extend(await (pg if round_ % 3 else other).store.insert(batch))

    async def claim(i: int) -> None:
        for n in range(10):
            leased.extend(await (pg if i % 2 else other).claim(3, at=n / 1000, worker=f"w{i}"))

    try:
        await asyncio.gather(*(enqueue(r) for r in range(6)), *(claim(i) for i in range(6)))
        while drained := await pg.claim(100, at=1):
            leased.extend(drained)
    finally:
        await close_resources(other_container)
    ids = [job.id for job in leased]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(enqueued)
    assert {key for key in pg.rows() if key[1]} == set()  # every group emptied has left the turns


async def test_a_claim_leaves_out_the_groups_another_transaction_holds_without_waiting(pg: Postgres) -> None:
    plain = await pg.add(pg.job("", NOW - 30))
    a = await pg.add(pg.job("a", NOW - 20))
    b = await pg.add(pg.job("b", NOW - 10))
    # Another claim, or a freed, holds the group '' and the group a.
    async with await psycopg.AsyncConnection.connect(pg.url) as holder:
        await holder.execute(
            "SELECT 1 FROM stackduck_groups WHERE job_type = %s AND group_key IN ('', 'a') FOR UPDATE", [T]
        )
        taken = await asyncio.wait_for(pg.claim(10), 5)
        assert [job.id for job in taken] == [b[0].id]
        await holder.commit()
    assert [job.id for job in await pg.claim(10, at=1)] == [plain[0].id, a[0].id]


async def test_claims_ends_and_enqueues_racing_under_group_concurrency_never_deadlock(pg: Postgres) -> None:
    other_container, other = await _open(pg.url)
    await pg.limits.put(Limit.of(T, group_concurrency=2), NOW)
    groups = ["", "a", "b", "c"]
    enqueued: list[str] = []
    done: list[str] = []
    rng = random.Random(11)

    async def enqueue(i: int) -> None:
        for _ in range(6):
            batch = [
                pg.job(g, NOW - rng.random(), priority=rng.choice((1, 2))) for g in rng.sample(groups, 3)
            ]
            enqueued.extend(await (pg if i % 2 else other).store.insert(batch))

    async def work(i: int) -> None:
        side = pg if i % 2 else other
        for n in range(12):
            at = n / 100
            for job in await side.claim(4, at=at, worker=f"w{i}"):
                await apply_moves(
                    side.store,
                    [(job.id, partial(Job.complete, worker_id=f"w{i}", token=job.attempt, now=NOW + at))],
                )
                await side.limits.freed(T, {job.group_key}, NOW + at)
                done.append(job.id)

    try:
        await asyncio.gather(*(enqueue(i) for i in range(4)), *(work(i) for i in range(6)))
        await pg.limits.freed(T, groups, NOW + 1)
        while drained := await pg.claim(100, at=1):
            done.extend(job.id for job in drained)
            for job in drained:
                await apply_moves(
                    pg.store, [(job.id, partial(Job.complete, worker_id="w", token=job.attempt, now=NOW + 1))]
                )
            await pg.limits.freed(T, groups, NOW + 1)
    finally:
        await close_resources(other_container)
    assert len(done) == len(set(done))
    assert sorted(done) == sorted(enqueued)


async def test_an_ungrouped_type_asked_beside_a_grouped_one_takes_turns_as_one_lane(pg: Postgres) -> None:
    other = [
        Job.new(pg.ids.new(NOW), JobSpec("plain-work", "{}", 2, 30, 2, NOW - 50 + i), NOW) for i in range(3)
    ]
    await pg.add(*other)
    a = await pg.add(*(pg.job("a", NOW - 40 + i) for i in range(3)))
    claimed = await pg.limits.claim("w", ["plain-work", T], [], [T], NOW, LEASE, 4)
    # Round by round, each lane in the order of its turn (the plain type's: its head's due time).
    assert [job.id for job in claimed.jobs] == [other[0].id, a[0].id, other[1].id, a[1].id]
    with psycopg.connect(pg.url) as conn:  # nothing written for the plain type
        assert conn.execute(
            "SELECT count(*) FROM stackduck_groups WHERE job_type = 'plain-work'"
        ).fetchone() == (0,)
