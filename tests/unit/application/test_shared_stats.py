"""Queue stats read once for concurrent callers, and reused a while when slow to read."""

from __future__ import annotations

import asyncio
import uuid

from stackduck.adapters.memory import ManualClock, MemoryJobStore
from stackduck.application.ports import TypeStats
from stackduck.application.shared_stats import MAX_REUSE_SECONDS, SharedStats
from stackduck.domain.job import Job
from stackduck.domain.rules import JobRequest, validate


class CountedStore(MemoryJobStore):
    """The memory store whose stats read takes ``cost`` seconds of the manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock
        self.cost = 0.0
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def stats(self, now: float, since: float) -> list[TypeStats]:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        self.clock.advance(self.cost)
        return await super().stats(now, since)


async def add(store: CountedStore, job_type: str = "email") -> None:
    now = store.clock.now()
    spec = validate(JobRequest(job_type, "{}"), now, 1024)
    await store.insert([Job.new(str(uuid.uuid4()), spec, now)])


async def test_a_fast_read_is_never_reused() -> None:
    clock = ManualClock(start=1_800_000_000.0)
    store = CountedStore(clock)
    stats = SharedStats(store, clock)
    await add(store)

    [first] = await stats.read()
    await add(store)
    [second] = await stats.read()

    assert (store.reads, first.ready_by_priority[1], second.ready_by_priority[1]) == (2, 1, 2)


async def settle() -> None:
    """Let a read started in the background finish (the store's read does not block)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_slow_read_is_reused_for_ten_times_its_cost_then_read_again_behind_it() -> None:
    clock = ManualClock(start=1_800_000_000.0)
    store = CountedStore(clock)
    stats = SharedStats(store, clock)
    await add(store)
    store.cost = 2.0  # a walk over a big store

    first = await stats.read()
    await add(store)
    clock.advance(19.9)  # the read ended 2 s after it began, and is kept 20 s from then
    assert await stats.read() == first and store.reads == 1

    clock.advance(0.2)
    assert await stats.read() == first  # time is up: served while a fresh read is made
    await settle()
    [fresh] = await stats.read()
    assert store.reads == 2 and fresh.ready_by_priority[1] == 2

    clock.advance(20.1)
    store.cost = 30.0  # kept at most a minute, however slow
    await stats.read()
    await settle()
    assert store.reads == 3
    clock.advance(MAX_REUSE_SECONDS - 0.1)
    await stats.read()
    assert store.reads == 3
    clock.advance(0.2)
    await stats.read()
    await settle()
    assert store.reads == 4


async def test_a_slow_read_long_out_of_date_is_waited_for() -> None:
    clock = ManualClock(start=1_800_000_000.0)
    store = CountedStore(clock)
    stats = SharedStats(store, clock)
    store.cost = 2.0
    first = await stats.read()
    await add(store)

    clock.advance(2 + 20 + MAX_REUSE_SECONDS + 0.1)  # past its time and its grace after
    [fresh] = await stats.read()

    assert first == [] and store.reads == 2 and fresh.ready_by_priority[1] == 1


async def test_a_kept_read_is_dropped_when_told_something_changed() -> None:
    clock = ManualClock(start=1_800_000_000.0)
    store = CountedStore(clock)
    stats = SharedStats(store, clock)
    store.cost = 2.0
    await stats.read()
    await add(store)

    stats.forget()  # e.g. an operator requeued dead letters
    [fresh] = await stats.read()

    assert store.reads == 2 and fresh.ready_by_priority[1] == 1


async def test_callers_at_the_same_time_share_one_read_and_one_leaving_does_not_cancel_it() -> None:
    clock = ManualClock(start=1_800_000_000.0)
    store = CountedStore(clock)
    stats = SharedStats(store, clock)
    await add(store)
    store.gate = asyncio.Event()

    callers = [asyncio.ensure_future(stats.read()) for _ in range(3)]
    await asyncio.sleep(0)
    callers[0].cancel()
    store.gate.set()
    results = await asyncio.gather(*callers[1:])

    assert store.reads == 1 and results[0] == results[1] and len(results[0]) == 1


async def test_a_read_not_to_keep_is_never_served_later() -> None:
    """A background sampler's slow read must not make a caller's stats stale after it."""
    clock = ManualClock(start=1_800_000_000.0)
    store = CountedStore(clock)
    stats = SharedStats(store, clock)
    store.cost = 2.0
    assert await stats.read(keep=False) == [] and stats.took == 2.0
    await add(store)

    [fresh] = await stats.read()

    assert store.reads == 2 and fresh.ready_by_priority[1] == 1
