"""The tiers composed: Redis carries the ready queue, memory takes over while Redis
fails, and the record (the job store) is what either is rebuilt from.

A watcher pings Redis every half second. When Redis stops answering (or an
operation fails), the queue is rebuilt in memory from the record and served from
there; the server is *degraded*. When Redis answers again, or answers but has lost
its data (restart, FLUSHALL), it is re-seeded from the record and takes over. When
Redis answers with its marker but may have lost part of its data (another
redis-server process answers: restarted from an older snapshot; keys evicted), a
paced sweep puts back what it lacks (``reconcile.py``).
Ownership is always decided by the record's compare-and-set, so a job that sits in
several queues at once (several instances, or both tiers during a switch) is still
leased to one worker only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar

from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.adapters.memory.queue import MemoryReadyQueue
from stackduck.adapters.reconcile import Reconciler, SweepPace
from stackduck.adapters.redis.queue import RedisReadyQueue, RedisState
from stackduck.application.ports import Clock, JobStore, QueueEntry, ReadyQueue
from stackduck.application.tasks import stop_if_cancelled
from stackduck.domain.errors import StorageUnavailable

log = logging.getLogger(__name__)

WATCH_SECONDS = 0.5
SEED_PAGE = 1000
#: Keys evicted under maxmemory ask for a sweep at most this often (they may be
#: another application's keys, evicted all the time).
EVICTION_SWEEP_SECONDS = 10.0
T = TypeVar("T")


async def seed(queue: ReadyQueue, store: JobStore, clock: Clock) -> int:
    """Push every queued job of the record into ``queue``; returns how many."""
    now = clock.now()
    after = ""
    seeded = 0
    while entries := await store.runnable(SEED_PAGE, after):
        await queue.push(entries, now)
        seeded += len(entries)
        after = entries[-1].job_id
    return seeded


class FailoverReadyQueue:
    def __init__(
        self,
        primary: RedisReadyQueue,
        store: JobStore,
        clock: Clock,
        notifier: BroadcastNotifier,
        pace: SweepPace | None = None,
    ) -> None:
        self._primary = primary
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._fallback: MemoryReadyQueue | None = None
        self._closing = False
        self._returning = False
        self._switch = asyncio.Lock()
        self.degraded = False
        self.reconciler = Reconciler(
            primary, store, clock, notifier, pace or SweepPace(), lambda: not self.degraded
        )
        self._seen: RedisState | None = None  # Redis as last seen serving the queue
        self._eviction_sweep_at = -EVICTION_SWEEP_SECONDS

    # -- the ReadyQueue port -------------------------------------------------------

    async def push(self, entries: Sequence[QueueEntry], now: float) -> None:
        if self._returning:  # both tiers, so nothing pushed during the re-seed is missed
            with contextlib.suppress(StorageUnavailable):
                await self._primary.push(entries, now)
        await self._run(lambda queue: queue.push(entries, now))

    async def pop(self, job_types: Collection[str], now: float, limit: int) -> list[QueueEntry]:
        return await self._run(lambda queue: queue.pop(job_types, now, limit))

    async def remove(self, entries: Sequence[QueueEntry]) -> None:
        await self._run(lambda queue: queue.remove(entries))

    async def promote_due(self, now: float) -> dict[str, int]:
        return await self._run(lambda queue: queue.promote_due(now))

    async def next_due(self) -> float | None:
        return await self._run(lambda queue: queue.next_due())

    # -- the tiers -------------------------------------------------------------------

    def close(self) -> None:
        """The backend is closing: Redis failing from now on is its client being closed,
        not an outage to fail over from (work still in flight gets the error)."""
        self._closing = True

    async def _run(self, operation: Callable[[ReadyQueue], Awaitable[T]]) -> T:
        if not self.degraded:
            try:
                return await operation(self._primary)
            except StorageUnavailable as exc:
                if self._closing:
                    raise
                await self._fail_over(exc)
        assert self._fallback is not None
        return await operation(self._fallback)

    async def _fail_over(self, cause: StorageUnavailable) -> None:
        async with self._switch:
            if self.degraded:
                return
            fallback = MemoryReadyQueue()
            count = await seed(fallback, self._store, self._clock)
            self._fallback, self.degraded = fallback, True
        log.error(
            "DEGRADED: %s; the ready queue is served from memory (%d job(s) rebuilt from the record) "
            "until Redis answers again",
            cause.for_log(),
            count,
        )
        self._notifier.wake_everyone()

    async def _return_to_primary(self, why: str, state: RedisState) -> None:
        async with self._switch:
            self._returning = True
            try:
                self._seen = state  # seen before the seed: a restart during it shows next time
                count = await seed(self._primary, self._store, self._clock)
                await self._primary.mark_seeded()
            finally:
                self._returning = False
            self._fallback, self.degraded = None, False
        log.warning(
            "%s: Redis re-seeded with %d job(s) from the record; it serves the ready queue", why, count
        )
        self._notifier.wake_everyone()  # the queue changed under every waiting stream

    async def start(self) -> None:
        """Seed Redis from the record (it may hold less, or nothing)."""
        try:
            await self._return_to_primary("starting", await self._primary.ping())
        except StorageUnavailable as exc:
            await self._fail_over(exc)

    async def watch(self) -> None:
        while True:
            stop_if_cancelled()
            await asyncio.sleep(WATCH_SECONDS)
            try:
                state = await self._primary.ping()
            except StorageUnavailable as exc:
                stop_if_cancelled()  # a cancellation the client turned into an error of its own
                if not self.degraded:
                    await self._fail_over(exc)
                continue
            except Exception as exc:  # e.g. READONLY after a replica promotion: not serving
                stop_if_cancelled()
                if not self.degraded:
                    await self._fail_over(StorageUnavailable(f"Redis answers but cannot serve: {exc}"))
                continue
            # redis-py sends through asyncio.wait_for, which in Python 3.11 returns the reply
            # and drops a cancellation that comes as the send ends: the close waiting for
            # this loop would then wait for ever.
            stop_if_cancelled()
            try:
                if self.degraded:
                    await self._return_to_primary("Redis answers again", state)
                elif not state.seeded:
                    await self._return_to_primary("Redis lost its data (restart or flush)", state)
                else:
                    self._notice(state)
            except StorageUnavailable as exc:
                log.warning("could not re-seed Redis yet: %s", exc.for_log())
            except Exception:
                log.exception("the Redis watcher failed unexpectedly; it keeps watching")

    def _notice(self, state: RedisState) -> None:
        """Redis kept its marker: ask for a sweep if it may have lost entries anyway."""
        seen, self._seen = self._seen, state
        if seen is None:
            return
        if state.run_id != seen.run_id and None not in (state.run_id, seen.run_id):
            log.warning(
                "another redis-server answers (run id %s, was %s) with the marker of a seeded queue: "
                "it may have restarted from an older snapshot; checking the ready queue against the record",
                state.run_id,
                seen.run_id,
            )
            self.reconciler.request("Redis restarted")
            return
        now = asyncio.get_running_loop().time()
        evicted = (
            None not in (state.evicted_keys, seen.evicted_keys) and state.evicted_keys != seen.evicted_keys
        )
        if evicted and now - self._eviction_sweep_at >= EVICTION_SWEEP_SECONDS:
            self._eviction_sweep_at = now
            log.info("Redis evicted keys (maxmemory): checking the ready queue against the record")
            self.reconciler.request("Redis evicted keys")
        elif evicted:
            self._seen = seen  # not yet: the difference stays to be noticed at a later look
