"""Paused job types: they keep accepting jobs and deliver none until resumed.

The paused set lives in the shared store; each server reads it at most once a
second (a pause reaches other instances within about a second, this one at once).
"""

from __future__ import annotations

import asyncio

from stackduck.application.ports import Clock, PausedTypesStore
from stackduck.application.ready_path import ReadyPath
from stackduck.domain.rules import validate_job_type

CACHE_SECONDS = 1.0


class PausedTypes:
    def __init__(self, store: PausedTypesStore, ready: ReadyPath, clock: Clock) -> None:
        self._store = store
        self._ready = ready
        self._clock = clock
        self._cached: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._reading: asyncio.Task[frozenset[str]] | None = None

    async def paused(self) -> frozenset[str]:
        now = self._clock.now()
        if self._read_at is not None and 0 <= now - self._read_at < CACHE_SECONDS:
            return self._cached
        if self._reading is None:  # one read for every claim that finds the cache stale
            self._reading = asyncio.ensure_future(self._store.paused())
        reading = self._reading
        try:
            self._cached = await asyncio.shield(reading)
            self._read_at = now
        finally:
            if self._reading is reading and reading.done():
                self._reading = None
        return self._cached

    def latest(self) -> frozenset[str]:
        """The paused types as last read, with this server's own pauses and resumes since
        applied (for decisions that must not wait for a read: a hand-off's delivery, whose
        reservation read them at most a second earlier)."""
        return self._cached

    async def pause(self, job_type: str) -> None:
        job_type = validate_job_type(job_type)
        await self._store.set_paused(job_type, True)
        self._cached |= {job_type}
        self._read_at = None

    async def resume(self, job_type: str) -> None:
        job_type = validate_job_type(job_type)
        await self._store.set_paused(job_type, False)
        self._cached -= {job_type}
        self._read_at = None
        await self._ready.wake_all([job_type])
