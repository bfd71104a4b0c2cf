"""Queue stats, read once for everyone who asks at the same time, and kept a while when
reading them is slow.

Where stats cost a walk over every job (Redis alone: about 20 s with 1,000,000 jobs
waiting, `stackduck bench --backlog`), a dashboard refreshing every 2 s and a metrics
scrape would otherwise keep the store busy walking. A read that took ``t`` seconds is
reused for ``REUSE_FACTOR * t`` (at most ``MAX_REUSE_SECONDS``), so stats take at most
about a tenth of the store's time; a fast read (most stores, most sizes) is not kept.
Once a slow read's time is up, the next caller starts a fresh read and, like every caller
until it ends, is given the kept one meanwhile (for at most ``MAX_REUSE_SECONDS`` more):
nobody waits for a slow read but the first, and an operator's change (``forget``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from stackduck.application.ports import Clock, JobStore, TypeStats

#: "Recently", for the rates in the stats.
STATS_WINDOW_SECONDS = 60.0
#: Reads faster than this are never reused.
SLOW_SECONDS = 0.1
REUSE_FACTOR = 10.0
MAX_REUSE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class _Kept:
    stats: list[TypeStats]
    until: float  # served as it is until then
    stale_until: float  # then served while a fresh read is made, until then


class SharedStats:
    def __init__(self, store: JobStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._kept: _Kept | None = None
        self._reading: asyncio.Future[list[TypeStats]] | None = None
        #: How long the last read took, in seconds.
        self.took = 0.0

    async def read(self, keep: bool = True) -> list[TypeStats]:
        """Stats of every job type. (Always all: where a read walks every job, one type
        costs the same walk, and callers asking for different types share it.) A read
        made with ``keep=False`` (a background sampler's) is shared with whoever asks
        meanwhile but not kept: it never makes what others read later stale."""
        kept = self._kept
        now = self._clock.now()
        if kept is not None and now < kept.until:
            return kept.stats
        reading = self._reading
        if reading is None:
            reading = self._reading = asyncio.ensure_future(self._read(keep))
            reading.add_done_callback(self._done)
        if kept is not None and now < kept.stale_until:
            return kept.stats
        return await asyncio.shield(reading)  # a caller that leaves does not cancel the others'

    def forget(self) -> None:
        """Something changed that the stats must show at once (an operator's bulk change)."""
        self._kept = None

    async def _read(self, keep: bool) -> list[TypeStats]:
        started = self._clock.now()
        stats = await self._store.stats(started, started - STATS_WINDOW_SECONDS)
        finished = self._clock.now()
        took = self.took = finished - started
        if not keep:
            return stats
        slow = took >= SLOW_SECONDS
        until = finished + min(took * REUSE_FACTOR, MAX_REUSE_SECONDS)
        self._kept = _Kept(stats, until, until + MAX_REUSE_SECONDS) if slow else None
        return stats

    def _done(self, done: asyncio.Future[list[TypeStats]]) -> None:
        if self._reading is done:
            self._reading = None
        if not done.cancelled():
            done.exception()  # retrieved: every waiter has been given it
