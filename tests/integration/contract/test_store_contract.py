"""The JobStore contract: every adapter keeps jobs the same way."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest

from stackduck.adapters.memory import MemoryJobStore
from stackduck.adapters.redis import store as redis_store
from stackduck.application.ports import Change, Completion, JobQuery, QueueEntry, TypeStats, listed_bytes
from stackduck.domain.job import MAX_ATTEMPTS_KEPT, Attempt, Job, JobStatus
from stackduck.domain.retry import RetryPolicy
from tests.integration.contract.conftest import NOW, Ports, PortsFactory

MIB = 1 << 20


@pytest.mark.parametrize("batch", [1, 40], ids=["one", "forty"])  # Postgres: INSERT, then COPY
async def test_jobs_come_back_exactly_as_stored(ports: Ports, batch: int) -> None:
    jobs = []
    for n in range(batch):
        job = ports.job(
            "ü'; DROP TABLE x; --\\", 1 + n % 3, NOW + 0.123456 + n, payload='{"k": "\\"q\\" 🦆", "n": 1.50}'
        )
        job.error_message = "earlier 'error'\x01\t\u2028 🦆"
        job.idempotency_key, job.timeout = f"order-{n}'ü", 12.5 + n
        job.metadata = '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","k":"ü"}'
        job.result = '{"sum": 1.50, "s": "🦆"}'
        job.attempts = (Attempt(1, "w'ü", NOW + 0.1234567, NOW + 1.7654321, "failed", "boom 🦆\n"),)
        jobs.append(job)
    jobs[-1].start("w", jobs[-1].run_at, 10.25)  # a job can be stored running (ADR 0013)

    await ports.store.insert(jobs)
    found = await ports.store.get(
        [j.id for j in jobs] + ["not-a-uuid", "01a2211a-a2be-7000-9ae6-cb2f559fabfe"]
    )

    assert list(found) == [j.id for j in jobs]
    for job in jobs:
        assert dataclasses.asdict(found[job.id]) == dataclasses.asdict(job)


async def test_a_change_is_written_only_over_the_version_it_was_made_from(ports: Ports) -> None:
    [job] = await ports.add(ports.job())
    first, second = job.copy(), job.copy()
    first.start("w1", NOW, 60)
    second.start("w2", NOW, 60)

    written = await ports.store.apply([Change(first, job.version), Change(second, job.version)])

    assert written == [True, False]
    stored = (await ports.store.get([job.id]))[job.id]
    assert (stored.status, stored.lease_owner, stored.attempt) == (JobStatus.RUNNING, "w1", 1)


async def test_successive_changes_to_one_job_in_one_batch(ports: Ports) -> None:
    [job] = await ports.add(ports.job())
    started = job.copy()
    started.start("w", NOW, 60)
    done = started.copy()
    done.complete("w", 1, NOW + 1)

    assert await ports.store.apply([Change(started, job.version), Change(done, started.version)]) == [
        True,
        True,
    ]
    assert (await ports.store.get([job.id]))[job.id].status is JobStatus.COMPLETED


async def test_expired_leases_and_the_next_deadline(ports: Ports) -> None:
    jobs = await ports.add(ports.job(), ports.job(), ports.job())
    changes = []
    for lease, job in zip((30, 10, 20), jobs, strict=True):
        version = job.version
        job.start("w", NOW, lease)
        changes.append(Change(job, version))
    await ports.store.apply(changes)

    assert await ports.store.next_lease_deadline() == NOW + 10
    expired = await ports.store.expired_leases(NOW + 20, 10)
    assert [j.id for j in expired] == [jobs[1].id, jobs[2].id]
    assert await ports.store.expired_leases(NOW + 20, 1) == expired[:1]

    dead = expired[0]
    version = dead.version
    dead.expire(NOW + 20, RetryPolicy())
    await ports.store.apply([Change(dead, version)])
    assert [j.id for j in await ports.store.expired_leases(NOW + 20, 10)] == [jobs[2].id]


async def test_a_job_inserted_running_is_leased_like_a_started_one(ports: Ports) -> None:
    """Direct hand-off (ADR 0013) inserts jobs already started: the store must index the
    lease (the reaper finds it) and keep it out of the ready queue."""
    job = ports.job()
    job.start("w", NOW, 10)

    await ports.store.insert([job])

    stored = (await ports.store.get([job.id]))[job.id]
    assert dataclasses.asdict(stored) == dataclasses.asdict(job)
    assert await ports.store.next_lease_deadline() == NOW + 10
    assert [j.id for j in await ports.store.expired_leases(NOW + 10, 10)] == [job.id]
    assert await ports.store.runnable(10, "") == []
    assert await ports.claimer.claim(["other"] * 10, [job.job_type], NOW + 5, 60) == []


async def test_listing_pages_through_a_status_and_a_type(ports: Ports) -> None:
    jobs = await ports.add(*(ports.job("a" if n % 2 else "b") for n in range(7)))
    for job in jobs[:5]:
        version = job.version
        job.start("w", NOW, 60)
        job.fail("w", None, NOW, "x", RetryPolicy(), retry=False)
        await ports.store.apply([Change(job, version)])

    first = await ports.store.list_jobs(JobQuery(status=JobStatus.FAILED), 3, "", MIB)
    second = await ports.store.list_jobs(JobQuery(status=JobStatus.FAILED), 3, first.next_cursor, MIB)
    only_a = await ports.store.list_jobs(JobQuery(status=JobStatus.FAILED, job_type="a"), 10, "", MIB)
    everything = await ports.store.list_jobs(JobQuery(), 100, "", MIB)

    assert [j.id for j in first.jobs + second.jobs] == [j.id for j in jobs[:5]]
    assert first.next_cursor and second.next_cursor == ""
    assert [j.id for j in only_a.jobs] == [j.id for j in jobs[:5] if j.job_type == "a"]
    assert len(everything.jobs) == 7 and everything.next_cursor == ""


async def test_a_page_holds_what_its_byte_budget_allows_and_says_where_to_go_on(ports: Ports) -> None:
    jobs = await ports.add(
        *(ports.job("a" if n % 2 else "b", payload=f'"{"ü" * 500 * n}"') for n in range(1, 7))
    )
    jobs[0].start("w" * 50, NOW, 60)
    jobs[0].fail("w" * 50, None, NOW, "é" * 300, RetryPolicy(), retry=True)
    await ports.store.apply([Change(jobs[0], 0)])
    stored = await ports.store.get([j.id for j in jobs])
    sizes = [listed_bytes(stored[j.id]) for j in jobs]
    ids = [j.id for j in jobs]

    async def page(max_bytes: int, cursor: str = "", job_type: str | None = None) -> tuple[list[str], str]:
        found = await ports.store.list_jobs(JobQuery(job_type=job_type), 100, cursor, max_bytes)
        return [j.id for j in found.jobs], found.next_cursor

    assert await page(sizes[0] + sizes[1]) == (ids[:2], ids[1])
    assert await page(sizes[0] + sizes[1] - 1) == (ids[:1], ids[0])
    assert await page(1) == (ids[:1], ids[0])  # the first job comes, however large
    assert await page(sizes[2] + sizes[3], ids[1]) == (ids[2:4], ids[3])
    assert await page(sum(sizes)) == (ids, "")
    assert await page(sizes[0] + sizes[2], "", "a") == ([ids[0], ids[2]], ids[2])
    assert await page(sizes[4], ids[2], "a") == ([ids[4]], "")
    walked, cursor = [], ""
    while True:
        found, cursor = await page(max(sizes) + 1, cursor)
        walked += found
        if not cursor:
            break
    assert walked == ids


async def test_counts_split_queued_into_due_and_scheduled(ports: Ports) -> None:
    await ports.add(ports.job(), ports.job(run_at=NOW + 60), ports.job(run_at=NOW - 5))
    counts = await ports.store.count(NOW)
    assert (counts["queued"], counts["scheduled"], counts["running"]) == (2, 1, 0)
    assert sum(counts.values()) == 3


async def test_runnable_pages_through_queued_jobs_by_id(ports: Ports) -> None:
    jobs = await ports.add(
        *(ports.job(priority=1 + n % 3, run_at=NOW + n, group_key="g" * (n % 2)) for n in range(5))
    )
    first = await ports.store.runnable(3, "")
    rest = await ports.store.runnable(3, first[-1].job_id)
    assert first + rest == [QueueEntry.of(job) for job in jobs]


@pytest.mark.parametrize("fresh", [0, 2_500], ids=["alone", "inside-a-large-batch"])
async def test_inserting_an_existing_id_fails_and_keeps_the_original(ports: Ports, fresh: int) -> None:
    [job] = await ports.add(ports.job(payload='{"v": 1}'))
    clash = dataclasses.replace(job, payload='{"v": 2}')
    others = [ports.job(run_at=NOW + n % 2 * 60) for n in range(fresh)]
    with pytest.raises(Exception):  # noqa: B017 - each adapter raises its own driver error
        await ports.store.insert([*others[: fresh * 4 // 5], clash, *others[fresh * 4 // 5 :]])
    assert (await ports.store.get([job.id]))[job.id].payload == '{"v": 1}'
    assert await ports.store.get([j.id for j in others]) == {}  # all or none

    await ports.store.insert(others)  # the same batch without the clash: every job and index
    counts = await ports.store.count(NOW)
    assert (counts["queued"], counts["scheduled"]) == (1 + fresh // 2, fresh // 2)


async def test_start_is_the_start_move_on_queued_due_jobs_each_once(ports: Ports) -> None:
    """Where a store writes the start move itself (start.sql and its _lease.sql), the job
    it leases is, field by field, what Job.start makes of it."""
    due, later, cancelled = await ports.add(ports.job(), ports.job(run_at=NOW + 60), ports.job())
    version = cancelled.version
    cancelled.cancel(NOW)
    await ports.store.apply([Change(cancelled, version)])
    ids = [due.id, later.id, cancelled.id, "not-a-job"]

    first, second = (
        await ports.store.start(dict.fromkeys(ids, "w1"), NOW, 30),
        await ports.store.start(dict.fromkeys(ids, "w2"), NOW, 30),
    )

    expected = due.copy()
    expected.start("w1", NOW, 30)
    assert first == [expected] and expected.attempt_deadline is None
    assert first[0].lease_expires_at == NOW + 30
    assert second == []
    assert await ports.store.get([due.id, later.id]) == {due.id: expected, later.id: later}
    # The store's indexes moved with it: counts, the lease the reaper finds.
    counts = await ports.store.count(NOW)
    assert (counts["running"], counts["queued"], counts["scheduled"]) == (1, 0, 1)
    assert [j.id for j in await ports.store.expired_leases(NOW + 30, 10)] == [due.id]


async def test_prune_finds_old_completed_jobs_behind_many_older_dead_letters(ports: Ports) -> None:
    jobs = await ports.add(*(ports.job() for _ in range(30)))
    for n, job in enumerate(jobs):
        version = job.version
        job.start("w", NOW, 60)
        finished = NOW + n
        if n < 25:
            job.fail("w", None, finished, "x", RetryPolicy(), retry=False)
        else:
            job.complete("w", None, finished)
        await ports.store.apply([Change(job, version)])

    pruned = await ports.store.prune([JobStatus.COMPLETED], NOW + 100, 3)

    assert pruned == 3
    counts = await ports.store.count(NOW)
    assert (counts["completed"], counts["failed"]) == (2, 25)


async def test_delete_takes_only_jobs_in_the_allowed_states(ports: Ports) -> None:
    queued, dead = await ports.add(ports.job(), ports.job())
    version = dead.version
    dead.start("w", NOW, 60)
    dead.fail("w", None, NOW, "x", RetryPolicy(), retry=False)
    await ports.store.apply([Change(dead, version)])

    assert await ports.store.delete([queued.id, dead.id, "missing"], [JobStatus.FAILED]) == 1
    assert list(await ports.store.get([queued.id, dead.id])) == [queued.id]


async def test_delete_by_age_checks_the_age_as_stored_not_as_scanned(ports: Ports) -> None:
    """Retention's delete re-checks age itself: a dead letter re-queued and dead again
    since the scan that chose it is not old any more."""
    old, fresh = await ports.add(ports.job(), ports.job())
    for job, finished in ((old, NOW), (fresh, NOW + 50)):
        version = job.version
        job.start("w", NOW, 60)
        job.fail("w", None, finished, "x", RetryPolicy(), retry=False)
        await ports.store.apply([Change(job, version)])

    assert await ports.store.delete([old.id, fresh.id], [JobStatus.FAILED], finished_before=NOW + 10) == 1
    assert list(await ports.store.get([old.id, fresh.id])) == [fresh.id]


async def test_complete_is_the_complete_move_where_the_lease_matches(ports: Ports) -> None:
    jobs = await ports.add(*(ports.job() for _ in range(5)))
    started = []
    for job in jobs:
        running = job.copy()
        running.start(f"w-{job.id}", NOW, 60)
        started.append(running)
    assert await ports.store.apply([Change(s, s.version - 1) for s in started[:4]]) == [True] * 4
    right, by_token_only, stale_token, other_worker = started[:4]
    queued = jobs[4]

    done = await ports.store.complete(
        [
            Completion(right.id, right.lease_owner, right.attempt, NOW + 1),
            Completion(by_token_only.id, None, by_token_only.attempt, NOW + 2),
            Completion(stale_token.id, stale_token.lease_owner, stale_token.attempt + 1, NOW + 1),
            Completion(other_worker.id, "someone-else", None, NOW + 1),
            Completion(queued.id, None, None, NOW + 1),
            Completion("not-a-uuid", None, None, NOW + 1),
            Completion("01a2211a-a2be-7000-9ae6-cb2f559fabfe", None, None, NOW + 1),
        ]
    )

    expected = []
    for job, now in ((right, NOW + 1), (by_token_only, NOW + 2)):
        moved = job.copy()
        moved.complete(job.lease_owner, job.attempt, now)
        expected.append(moved)
    assert done == [*expected, None, None, None, None, None]
    stored = await ports.store.get([j.id for j in jobs])
    assert [stored[j.id] for j in (right, by_token_only)] == expected
    assert [stored[j.id] for j in (stale_token, other_worker)] == [stale_token, other_worker]
    assert stored[queued.id] == queued
    # The store's indexes moved with them: counts, leases, what retention prunes.
    counts = await ports.store.count(NOW + 3)
    assert (counts["completed"], counts["running"], counts["queued"]) == (2, 2, 1)
    expired = {j.id for j in await ports.store.expired_leases(NOW + 1000, 10)}
    assert expired == {stale_token.id, other_worker.id}
    assert await ports.store.prune([JobStatus.COMPLETED], NOW + 10, 10) == 2


async def test_an_id_spelled_otherwise_than_given_finds_and_moves_nothing(ports: Ports) -> None:
    """Job ids are exact strings on every store: Postgres' uuid type would read these
    spellings as the same job (or fail the whole batch on ``urn:uuid:``)."""
    waiting, other, held = await ports.add(ports.job(), ports.job(), ports.job())
    running = held.copy()
    running.start("w", NOW, 60)
    assert await ports.store.apply([Change(running, held.version)]) == [True]
    spellings = [
        held.id.upper(),
        f"{{{held.id}}}",
        f"urn:uuid:{held.id}",
        held.id.replace("-", ""),
        f" {held.id}",
    ]

    done = await ports.store.complete(
        [*(Completion(s, None, None, NOW + 1) for s in spellings), Completion(running.id, "w", None, NOW + 1)]
    )
    assert [job is not None for job in done] == [False] * len(spellings) + [True]
    assert await ports.store.get([s.replace(held.id, waiting.id) for s in spellings]) == {}
    odd = [s.replace(held.id, i) for i in (waiting.id, other.id) for s in spellings]
    assert await ports.store.start(dict.fromkeys(odd, "w"), NOW, 60) == []
    stored = await ports.store.get([waiting.id, other.id])
    assert [job.status for job in stored.values()] == [JobStatus.QUEUED, JobStatus.QUEUED]


@pytest.mark.parametrize("chunk", [None, 1], ids=["", "chunks-of-one"])
async def test_stats_count_each_type_as_the_record_stands(
    ports: Ports, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk is not None:  # Redis alone counts in chunks: make every walk take several
        monkeypatch.setattr(redis_store, "STATS_CHUNK", chunk)
        monkeypatch.setattr(redis_store, "DUE_CHUNK", chunk)
    now = NOW + 60
    policy = RetryPolicy()

    async def moved(job: Job, move: Callable[[Job], object]) -> Job:
        after = job.copy()
        move(after)
        assert await ports.store.apply([Change(after, job.version)]) == [True]
        return after

    async def started(job: Job) -> Job:
        return await moved(job, lambda j: j.start("w", NOW, 600))

    a = [
        ports.job("a", 1), ports.job("a", 3), ports.job("a", 3),
        ports.job("a", 2, run_at=NOW + 30),  # due by `now`, though it was not when stored
        ports.job("a", 2, run_at=NOW + 600),  # scheduled
        *(ports.job("a", max_retries=0) for _ in range(6)),
    ]  # fmt: skip
    b = [ports.job("b") for _ in range(2)]
    await ports.add(*a, *b)
    running_a, done_recently, done_long_ago, dead_recently, dead_long_ago, cancelled = a[5:]
    for job in (running_a, done_recently, done_long_ago, dead_recently, dead_long_ago, *b):
        await started(job)
    for job, at in ((done_recently, now - 10), (done_long_ago, now - 120)):
        await moved((await ports.store.get([job.id]))[job.id], lambda j, at=at: j.complete("w", None, at))
    for job, at in ((dead_recently, now - 5), (dead_long_ago, now - 200)):
        current = (await ports.store.get([job.id]))[job.id]
        await moved(current, lambda j, at=at: j.fail("w", None, at, "no", policy))
    await moved(cancelled, lambda j: j.cancel(now - 1))
    retried = (await ports.store.get([b[1].id]))[b[1].id]  # b's second job fails and waits to retry
    await moved(retried, lambda j: j.fail("w", None, now - 1, "again", policy))

    stats = {s.job_type: s for s in await ports.store.stats(now, now - 60)}

    assert stats["a"] == TypeStats(
        job_type="a",
        ready_by_priority=(1, 1, 2),
        scheduled=1,
        running=1,
        dead=2,
        completed_recently=1,
        dead_recently=1,
        oldest_ready_at=pytest.approx(NOW, abs=0.001),
    )
    assert stats["b"] == TypeStats(
        job_type="b",
        ready_by_priority=(0, 0, 0),
        scheduled=1,
        running=1,
        dead=0,
        completed_recently=0,
        dead_recently=0,
    )


async def test_stats_give_each_count_its_own_field(ports: Ports) -> None:
    """Every count a different number, so one read into another's field shows."""
    now = NOW + 60
    ready = [ports.job("c", priority) for priority, n in ((1, 1), (2, 2), (3, 3)) for _ in range(n)]
    scheduled = [ports.job("c", run_at=now + 600) for _ in range(4)]
    running = [ports.job("c") for _ in range(5)]
    completed = [ports.job("c") for _ in range(6)]
    dead_recently = [ports.job("c", max_retries=0) for _ in range(7)]
    dead_long_ago = [ports.job("c", max_retries=0) for _ in range(2)]
    await ports.add(*ready, *scheduled, *running, *completed, *dead_recently, *dead_long_ago)

    async def moved(jobs: list[Job], move: Callable[[Job], object]) -> list[Job]:
        after = [job.copy() for job in jobs]
        for job in after:
            move(job)
        changes = [Change(new, old.version) for new, old in zip(after, jobs, strict=True)]
        assert await ports.store.apply(changes) == [True] * len(jobs)
        return after

    started = await moved(
        [*running, *completed, *dead_recently, *dead_long_ago], lambda j: j.start("w", NOW, 600)
    )
    finishing = started[len(running) :]
    await moved(finishing[:6], lambda j: j.complete("w", None, now - 10))
    await moved(finishing[6:13], lambda j: j.fail("w", None, now - 5, "no", RetryPolicy()))
    await moved(finishing[13:], lambda j: j.fail("w", None, now - 200, "no", RetryPolicy()))

    assert await ports.store.stats(now, now - 60) == [
        TypeStats(
            job_type="c",
            ready_by_priority=(1, 2, 3),
            scheduled=4,
            running=5,
            dead=9,
            completed_recently=6,
            dead_recently=7,
            oldest_ready_at=pytest.approx(NOW, abs=0.001),
        )
    ]


async def test_stats_say_when_the_longest_waiting_due_job_fell_due(ports: Ports) -> None:
    """The age of a queue's oldest due job, over priorities, groups and jobs that fell due
    after they were stored; a type with nothing due has none."""
    now = NOW + 60
    await ports.add(
        ports.job("d", 1), ports.job("d", 3, run_at=NOW - 30),  # the low priority waited longest
        ports.job("d", 2, run_at=NOW + 600),  # not due: never the oldest
        ports.job("e", 2, run_at=NOW + 10),  # stored for later, due by `now`
        ports.job("g", 2), ports.job("g", 2, run_at=NOW - 5, group_key="tenant"),
        ports.job("f", 1, run_at=NOW + 600),
    )  # fmt: skip

    oldest = {s.job_type: s.oldest_ready_at for s in await ports.store.stats(now, now - 60)}

    assert oldest == {
        "d": pytest.approx(NOW - 30, abs=0.001),
        "e": pytest.approx(NOW + 10, abs=0.001),
        "g": pytest.approx(NOW - 5, abs=0.001),
        "f": None,
    }


@pytest.mark.parametrize("allowed", [7.25, 45.5], ids=["within-the-lease", "past-the-lease"])
async def test_start_gives_a_timed_job_its_deadline_and_cuts_the_lease_there(
    ports: Ports, allowed: float
) -> None:
    timeout = allowed
    [job] = await ports.add(ports.job(timeout=timeout))

    [started] = await ports.store.start(dict.fromkeys([job.id], "w1"), NOW + 0.123, 30)

    expected = job.copy()
    expected.start("w1", NOW + 0.123, 30)
    assert started == expected
    assert started.attempt_deadline == NOW + 0.123 + timeout
    assert started.lease_expires_at == min(NOW + 0.123 + 30, NOW + 0.123 + timeout)
    assert [j.id for j in await ports.store.expired_leases(started.lease_expires_at, 10)] == [job.id]


async def test_complete_keeps_the_result_and_the_latest_attempts(ports: Ports) -> None:
    """complete.sql and complete.lua add the attempt to the history as Job.complete does:
    the latest MAX_ATTEMPTS_KEPT, the oldest dropped."""
    history = tuple(
        Attempt(n, f"w{n}", NOW - 100 + n + 0.125, NOW - 99 + n + 0.5, "failed", f"error {n} ü")
        for n in range(1, MAX_ATTEMPTS_KEPT + 1)
    )
    short, full = await ports.add(ports.job(), ports.job(attempts=history, attempt=MAX_ATTEMPTS_KEPT))
    running = []
    for job in (short, full):
        moved = job.copy()
        moved.start("wü", NOW + 0.333, 60)
        running.append(moved)
    changes = [
        Change(job, version) for job, version in zip(running, (short.version, full.version), strict=True)
    ]
    assert await ports.store.apply(changes) == [True, True]

    result = '{"total": 12.50, "name": "ü\\\\"}'
    done = await ports.store.complete(
        [
            Completion(running[0].id, "wü", running[0].attempt, NOW + 2.777, result),
            Completion(running[1].id, "wü", running[1].attempt, NOW + 2.777),
        ]
    )

    expected = []
    for job, given in zip(running, (result, None), strict=True):
        moved = job.copy()
        moved.complete("wü", job.attempt, NOW + 2.777, given)
        expected.append(moved)
    assert done == expected
    assert done[0].result == result and done[1].result is None
    assert [(a.number, a.outcome) for a in done[0].attempts] == [(1, "completed")]
    assert len(done[1].attempts) == MAX_ATTEMPTS_KEPT and done[1].attempts[0] == history[1]
    assert done[1].attempts[-1].number == MAX_ATTEMPTS_KEPT + 1
    assert await ports.store.get([j.id for j in running]) == {j.id: j for j in expected}


async def test_an_attempt_past_its_deadline_is_not_completed(ports: Ports) -> None:
    [job] = await ports.add(ports.job(timeout=5.0))
    [started] = await ports.store.start(dict.fromkeys([job.id], "w1"), NOW, 60)

    [late] = await ports.store.complete([Completion(job.id, "w1", started.attempt, NOW + 5.0)])

    assert late is None
    assert (await ports.store.get([job.id]))[job.id] == started
    [done] = await ports.store.complete([Completion(job.id, "w1", started.attempt, NOW + 4.999)])
    assert done is not None and done.status is JobStatus.COMPLETED


# -- idempotency keys ---------------------------------------------------------------------

WINDOW = 100.0


def keyed(ports: Ports, key: str, job_type: str = "t", created: float = NOW, **fields: object) -> Job:
    job = ports.job(job_type, idempotency_key=key, **fields)
    job.created_at = job.updated_at = created
    return job


async def finish(ports: Ports, job: Job, at: float = NOW + 1) -> None:
    version = job.version
    job.start("w", NOW, 60)
    job.complete("w", None, at)
    assert await ports.store.apply([Change(job, version)]) == [True]


async def stored_ids(ports: Ports, *jobs: Job) -> list[str]:
    return list(await ports.store.get([job.id for job in jobs]))


async def test_a_key_names_the_job_that_holds_it_and_nothing_else_is_stored(ports: Ports) -> None:
    first = keyed(ports, "order-1")
    again, other_type, unkeyed = keyed(ports, "order-1"), keyed(ports, "order-1", "u"), ports.job()

    assert await ports.store.insert([first], WINDOW) == [first.id]
    holders = await ports.store.insert([again, other_type, unkeyed], WINDOW)

    assert holders == [first.id, other_type.id, unkeyed.id]
    assert await stored_ids(ports, first, again, other_type, unkeyed) == [first.id, other_type.id, unkeyed.id]
    stored = (await ports.store.get([first.id]))[first.id]
    assert stored.idempotency_key == "order-1" and stored.payload == first.payload
    counts = await ports.store.count(NOW)
    assert counts["queued"] == 3
    assert [e.job_id for e in await ports.store.runnable(10, "")] == sorted(
        [first.id, other_type.id, unkeyed.id]
    )


@pytest.mark.parametrize("size", [4, 40], ids=["small", "large"])  # Postgres: INSERT, or COPY unkeyed
async def test_a_key_repeated_in_a_batch_stores_its_first_job(ports: Ports, size: int) -> None:
    jobs = [keyed(ports, f"k{n % (size // 2)}") if n % 4 else ports.job() for n in range(size)]
    [held] = await ports.add(keyed(ports, "k1"), key_seconds=WINDOW)  # an earlier job holds one of them

    holders = await ports.store.insert(jobs, WINDOW)

    expected: dict[str, str] = {"k1": held.id}
    for job in jobs:
        if job.idempotency_key:
            expected.setdefault(job.idempotency_key, job.id)
    assert holders == [expected[job.idempotency_key] if job.idempotency_key else job.id for job in jobs]
    created = [job.id for job, holder in zip(jobs, holders, strict=True) if holder == job.id]
    assert len(created) < len(jobs)
    assert sorted(await ports.store.get([job.id for job in jobs])) == sorted(created)
    assert (await ports.store.count(NOW))["queued"] == len(created) + 1


async def test_a_duplicate_inserted_running_leaves_no_lease(ports: Ports) -> None:
    """A job reserved for a waiting stream (ADR 0013) is started before its insert: a
    duplicate must leave no lease behind for the reaper to find."""
    [first] = await ports.add(keyed(ports, "k"), key_seconds=WINDOW)
    handed = keyed(ports, "k")
    handed.start("w", NOW, 10)

    assert await ports.store.insert([handed], WINDOW) == [first.id]

    assert await ports.store.next_lease_deadline() is None
    assert await ports.store.expired_leases(NOW + 60, 10) == []
    assert (await ports.store.count(NOW))["running"] == 0


async def test_a_kept_job_holds_its_key_after_its_window(ports: Ports) -> None:
    [first] = await ports.add(keyed(ports, "k"), key_seconds=WINDOW)
    await finish(ports, first)

    late = keyed(ports, "k", created=NOW + 10 * WINDOW)
    assert await ports.store.insert([late], WINDOW) == [first.id]
    assert await ports.store.free_keys(NOW + 10 * WINDOW, 10) == 0
    assert await ports.store.insert([late], WINDOW) == [first.id]


@pytest.mark.parametrize("how", ["prune", "delete"])
async def test_a_deleted_jobs_key_is_held_to_the_end_of_its_window_then_free(ports: Ports, how: str) -> None:
    [first] = await ports.add(keyed(ports, "k"), key_seconds=WINDOW)
    await finish(ports, first)
    if how == "prune":
        assert await ports.store.prune([JobStatus.COMPLETED], NOW + 2, 10) == 1
    else:
        assert await ports.store.delete([first.id], [JobStatus.COMPLETED]) == 1

    within = keyed(ports, "k", created=NOW + WINDOW)
    assert await ports.store.insert([within], WINDOW) == [first.id]  # gone, but in its window
    assert await ports.store.free_keys(NOW + WINDOW, 10) == 0
    assert await stored_ids(ports, within) == []

    after = keyed(ports, "k", created=NOW + WINDOW + 1)
    assert await ports.store.insert([after], WINDOW) == [after.id]  # taken over
    assert await stored_ids(ports, after) == [after.id]
    again = keyed(ports, "k", created=NOW + 5 * WINDOW)
    assert await ports.store.insert([again], WINDOW) == [after.id]  # the new holder is kept


async def test_free_keys_forgets_the_keys_of_jobs_gone_once_their_window_ends(ports: Ports) -> None:
    jobs = await ports.add(*(keyed(ports, f"k{n}") for n in range(3)), key_seconds=WINDOW)
    for job in jobs[:2]:
        await finish(ports, job)
    assert await ports.store.prune([JobStatus.COMPLETED], NOW + 2, 10) == 2

    freed = await ports.store.free_keys(NOW + WINDOW + 1, 10)

    expires_by_itself = isinstance(ports.store, redis_store.RedisJobStore)  # Redis alone: PEXPIREAT
    assert freed == (0 if expires_by_itself else 2)
    assert await ports.store.free_keys(NOW + WINDOW + 1, 10) == 0
    late = [keyed(ports, f"k{n}", created=NOW + WINDOW + 2) for n in range(3)]
    assert await ports.store.insert(late, WINDOW) == [late[0].id, late[1].id, jobs[2].id]


async def test_a_key_is_any_text_of_up_to_255_characters(ports: Ports) -> None:
    keys = ["{x}:y 🦆'\n\"%", "é" * 255, "k" * 255]
    jobs = [keyed(ports, key, "ü{t}:") for key in keys]

    assert await ports.store.insert(jobs, WINDOW) == [job.id for job in jobs]
    assert await ports.store.insert([keyed(ports, key, "ü{t}:") for key in keys], WINDOW) == [
        job.id for job in jobs
    ]
    found = await ports.store.get([job.id for job in jobs])
    assert [found[job.id].idempotency_key for job in jobs] == keys


async def test_racing_inserts_of_one_key_store_one_job(make_ports: PortsFactory) -> None:
    """Twenty inserts of one key at once, from two instances where the storage is shared
    (memory is one process): one job is stored, and every insert names it."""
    first: Ports = await make_ports()
    instances = [first] if isinstance(first.store, MemoryJobStore) else [first, await make_ports()]
    racers = [keyed(first, "race", payload=f'{{"n": {n}}}') for n in range(20)]

    holders = await asyncio.gather(
        *(instances[n % len(instances)].store.insert([job], WINDOW) for n, job in enumerate(racers))
    )

    winners = {holder for [holder] in holders}
    assert len(winners) == 1
    [winner] = winners
    assert winner in {job.id for job in racers}
    assert list(await first.store.get([job.id for job in racers])) == [winner]
    assert (await first.store.count(NOW))["queued"] == 1


async def test_batches_racing_on_keys_in_opposite_orders_both_finish(make_ports: PortsFactory) -> None:
    """Keys are claimed in one order whatever the batch's: two batches that name the same
    keys the other way round never wait on each other in a circle (a deadlock would fail
    one of them)."""
    first: Ports = await make_ports()
    second = first if isinstance(first.store, MemoryJobStore) else await make_ports()
    for round_ in range(5):
        keys = [f"r{round_}-{n}" for n in range(6)]
        forward = [keyed(first, key) for key in keys]
        backward = [keyed(first, key) for key in reversed(keys)]

        one, two = await asyncio.gather(
            first.store.insert(forward, WINDOW), second.store.insert(backward, WINDOW)
        )

        assert one == list(reversed(two))
        assert sorted(await first.store.get([job.id for job in forward + backward])) == sorted(one)
