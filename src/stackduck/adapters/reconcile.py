"""The Redis ready queue checked against the record (Redis over Postgres).

Redis can lose entries while keeping the marker that says it was seeded: restarted
from an older snapshot (or a replica that lagged, promoted), or keys evicted under
``maxmemory``. A sweep walks every queued job of the record by id, a page at a time at
a bounded pace, and puts back with one idempotent script (``restore.lua``) each entry
Redis lacks; consumers of the jobs put back are woken. Sweeps run when the watcher
sees another redis-server answer (its run id changed) or keys evicted, and every
``every_seconds`` on one instance of those sharing the Redis.

A sweep can put back an entry for a job that a claim took between the record's page
and the script: such a stale entry is dropped by the next claim that pops it, since
the record's compare-and-set leases only a queued, due job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from stackduck.adapters.redis.queue import RedisReadyQueue
from stackduck.application.ports import Clock, JobStore, Notifier
from stackduck.application.tasks import stop_if_cancelled
from stackduck.domain.errors import StorageUnavailable

log = logging.getLogger(__name__)
#: Why a sweep that nothing asked for runs.
PERIODIC = "periodic check"

SWEEP_PAGE = 1000


@dataclass(frozen=True, slots=True)
class SweepPace:
    every_seconds: float = 300.0  # a full sweep this often (one instance of all)
    jobs_per_second: float = 10_000.0  # how fast a sweep walks the record


class Reconciler:
    def __init__(
        self,
        primary: RedisReadyQueue,
        store: JobStore,
        clock: Clock,
        notifier: Notifier,
        pace: SweepPace,
        active: Callable[[], bool],
    ) -> None:
        self._primary = primary
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._pace = pace
        self._active = active  # False while the queue is served from memory
        self._asked = asyncio.Event()
        self._why = ""
        self.sweeps = 0  # sweeps finished, for the curious (tests, logs)

    def request(self, why: str) -> None:
        """Sweep as soon as possible (from the start again, if one is under way)."""
        self._why = why
        self._asked.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        every = self._pace.every_seconds
        next_turn = loop.time() + every
        while True:
            stop_if_cancelled()  # its clients may have lost the cancellation (wait_for does, in 3.11)
            with contextlib.suppress(TimeoutError):  # not wait_for: see DueLoop.run
                async with asyncio.timeout(max(next_turn - loop.time(), 0)):
                    await self._asked.wait()
            asked = self._asked.is_set()
            if not asked:
                next_turn = loop.time() + every
            try:
                if not self._active():
                    self._asked.clear()  # the return to Redis re-seeds everything anyway
                elif asked or await self._primary.take_turn(every):
                    await self.sweep(self._why if asked else PERIODIC)
            except StorageUnavailable as exc:  # the watcher fails over; the next turn tries again
                stop_if_cancelled()
                log.warning("the ready queue's check against the record stopped: %s", exc)
            except Exception:  # a duty must never die
                stop_if_cancelled()
                log.exception("the ready queue's check against the record failed unexpectedly")

    async def sweep(self, why: str) -> int:
        """Walk every queued job of the record; put back in Redis the entries it lacks.
        Returns how many were put back."""
        loop = asyncio.get_running_loop()
        gap = SWEEP_PAGE / self._pace.jobs_per_second
        self._asked.clear()
        after, restored, walked = "", 0, 0
        await self._primary.reindex_due()
        while True:
            if not self._active():
                return restored  # degraded: the return to Redis re-seeds everything
            began = loop.time()
            if self._asked.is_set():  # Redis changed again under this sweep: start over
                self._asked.clear()
                why, after = self._why, ""
            entries = await self._store.runnable(SWEEP_PAGE, after)
            now = self._clock.now()
            back = await self._primary.restore(entries, now)
            walked += len(entries)
            if back:
                restored += len(back)
                due = Counter(entry.job_type for entry in back if entry.run_at <= now)
                if due:
                    await self._notifier.notify(due)
            if len(entries) < SWEEP_PAGE:
                break
            after = entries[-1].job_id
            await asyncio.sleep(max(began + gap - loop.time(), 0))
        self.sweeps += 1
        if restored:
            # A periodic check on a live queue also finds jobs claimed or enqueued while it
            # read them (popped, or not yet pushed): their entries are dropped at the next
            # claim or merged with the push, so only a check Redis's state asked for warns.
            level = logging.INFO if why == PERIODIC else logging.WARNING
            log.log(
                level,
                "Redis lacked %d of the %d queued job(s) of the record (%s): put back in the ready queue",
                restored,
                walked,
                why,
            )
        return restored
