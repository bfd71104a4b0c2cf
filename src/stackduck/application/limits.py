"""Concurrency and rate limits per job type, and fair groups, held across every server
instance on the storage (ADR 0028, ADR 0029).

A limit lives where the record is, and so do the groups' turns. Each server reads which
types are limited and which have groups at most once a second (:data:`CACHE_SECONDS`;
its own changes at once): a claim that asks only for other types takes the usual path,
unchanged, and one that asks for a limited or grouped type goes to
:meth:`LimitStore.claim`, which counts the running jobs, spends the bucket's tokens and
takes the groups in turns atomically with the leases it writes, so instances racing for
the last slot never both get it. Jobs held back stay queued in their order.

A held-back stream parks like any other. What wakes it: a running job of a limited
type ending (the ready path tells its consumers, on every instance, and brings a group
parked at its group_concurrency back into the turns), the bucket's next token (a timer
here, for the types whose rate held jobs back), or a limit raised or cleared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stackduck.application.ports import Clock, Notifier
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.limits import Limit
from stackduck.domain.rules import validate_job_type

#: How stale a server's view of which types are limited may be.
CACHE_SECONDS = 1.0
#: A wake-up count larger than any number of waiting consumers.
EVERYONE = 1_000_000


@dataclass(frozen=True, slots=True)
class LimitUsage:
    """A limit and how it stands: the type's running jobs, and its bucket's tokens now
    (None without a rate)."""

    limit: Limit
    running: int
    tokens: float | None


@dataclass(frozen=True, slots=True)
class LimitedClaim:
    """The jobs a limited claim leased, and for each type whose rate held jobs back,
    when its bucket next holds a token."""

    jobs: list[Job]
    retry_at: dict[str, float] = field(default_factory=dict)


class LimitStore(Protocol):
    """The limits and the groups' turns, kept where the record is and shared by every
    instance on it."""

    async def limits(self) -> list[Limit]:
        """Every limit, by job type."""

    async def grouped(self) -> frozenset[str]:
        """The job types that have (or had) jobs in a group: their claims take turns."""

    async def put(self, limit: Limit, now: float) -> None:
        """Create or replace a type's limit. An existing bucket keeps its tokens (at most
        the new size); a new one starts full."""

    async def remove(self, job_type: str) -> bool:
        """Drop a type's limit and its bucket; False if it had none."""

    async def usage(self, now: float) -> list[LimitUsage]:
        """Every limit with its type's running jobs and its tokens at ``now``."""

    async def claim(
        self,
        worker_id: str,
        job_types: Collection[str],
        limited: Collection[str],
        grouped: Collection[str],
        now: float,
        lease_seconds: float,
        limit: int,
    ) -> LimitedClaim:
        """Lease up to ``limit`` of the best due jobs of ``job_types`` to the worker, as an
        unlimited claim would, except that

        - of each type in ``limited`` that has a limit stored, no more start than
          :meth:`Limit.allowance` allows, and no more of one group than
          :meth:`Limit.group_allowance` allows; the running counts read, the leases and
          the tokens spent are one atomic step (no other claim of those types runs in
          between, on any instance);
        - the jobs of each type in ``grouped`` (the ungrouped ones being the group "")
          are taken in turns within each priority (ADR 0029): the group served longest
          ago first (one never served: by its earliest due job), one job a group a
          round, round after round while the claim wants more; a group at its
          group_concurrency is passed over (parked) until one of its jobs ends
          (:meth:`freed`) or a while passes.

        Priorities still come first: a priority 1 job of any group before priority 2."""

    async def freed(self, job_type: str, groups: Collection[str], now: float) -> None:
        """Jobs of these groups of the type stopped running: a group parked at its
        group_concurrency takes its turn again."""


class Limits:
    def __init__(self, store: LimitStore, notifier: Notifier, clock: Clock) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._cached: frozenset[str] = frozenset()
        self._grouped: frozenset[str] = frozenset()
        self._by_group: frozenset[str] = frozenset()  # types with a group_concurrency
        self._by_running: frozenset[str] = frozenset()  # types whose running jobs hold others back
        self._read_at: float | None = None
        self._reading: asyncio.Task[tuple[list[Limit], frozenset[str]]] | None = None
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}

    async def _read(self) -> tuple[list[Limit], frozenset[str]]:
        return await self._store.limits(), await self._store.grouped()

    async def limited(self) -> frozenset[str]:
        """The limited job types, as read at most a second ago."""
        await self._fresh()
        return self._cached

    async def grouped(self) -> frozenset[str]:
        """The job types with groups, as read at most a second ago."""
        await self._fresh()
        return self._grouped

    async def _fresh(self) -> None:
        now = self._clock.now()
        if self._read_at is not None and 0 <= now - self._read_at < CACHE_SECONDS:
            return
        if self._reading is None:  # one read for every claim that finds the cache stale
            self._reading = asyncio.ensure_future(self._read())
        reading = self._reading
        try:
            limits, grouped = await asyncio.shield(reading)
            self._cached = frozenset(limit.job_type for limit in limits)
            self._by_group = frozenset(limit.job_type for limit in limits if limit.group_concurrency)
            self._by_running = frozenset(
                limit.job_type for limit in limits if limit.concurrency or limit.group_concurrency
            )
            if grouped - self._grouped and self._read_at is not None:
                # Types that got groups on another instance: a claim of theirs here took
                # only their ungrouped jobs until now; their streams look again.
                self._notifier.wake(dict.fromkeys(grouped - self._grouped, EVERYONE))
            self._grouped = grouped
            self._read_at = now
        finally:
            if self._reading is reading and reading.done():
                self._reading = None

    async def careful(self) -> frozenset[str]:
        """The types a claim must count or take turns for (limited, or with groups), as
        read at most a second ago: a direct hand-off skips them."""
        await self._fresh()
        return self._cached | self._grouped

    def counted(self) -> frozenset[str]:
        """The types whose held jobs wait for running ones to end (a concurrency or a
        group_concurrency), as last read, with this server's own changes applied."""
        return self._by_running

    def latest(self) -> frozenset[str]:
        """The limited types and the types with groups as last read, with this server's
        own changes since applied (for decisions that must not wait for a read)."""
        return self._cached | self._grouped

    def has_grouped(self, job_type: str) -> None:
        """A job of this type was enqueued here in a group: its claims take turns from now."""
        if job_type not in self._grouped:
            self._grouped |= {job_type}

    async def claim(
        self,
        worker_id: str,
        job_types: Collection[str],
        limited: Collection[str],
        grouped: Collection[str],
        now: float,
        lease_seconds: float,
        limit: int,
    ) -> list[Job]:
        claimed = await self._store.claim(worker_id, job_types, limited, grouped, now, lease_seconds, limit)
        for job_type, at in claimed.retry_at.items():
            self._wake_at(job_type, at)
        return claimed.jobs

    async def ended(self, jobs: Sequence[Job], now: float) -> None:
        """These jobs stopped running: a group of theirs parked at its group_concurrency
        takes its turn again."""
        if not self._by_group:
            return
        groups: dict[str, set[str]] = {}
        for job in jobs:
            if job.job_type in self._by_group and job.status is not JobStatus.RUNNING:
                groups.setdefault(job.job_type, set()).add(job.group_key)
        for job_type, names in groups.items():
            await self._store.freed(job_type, names, now)

    async def set_limit(
        self,
        job_type: str,
        concurrency: int = 0,
        rate: float = 0.0,
        per: float = 0.0,
        burst: int = 0,
        group_concurrency: int = 0,
    ) -> LimitUsage:
        """Create or replace a type's limit (all of it: what is not given, it does not
        have). Raised, it lets held jobs go at once."""
        limit = Limit.of(job_type, concurrency, rate, per, burst, group_concurrency)
        now = self._clock.now()
        await self._store.put(limit, now)
        self._cached |= {limit.job_type}
        if limit.concurrency or limit.group_concurrency:
            self._by_running |= {limit.job_type}
        if limit.group_concurrency:
            self._by_group |= {limit.job_type}
        self._read_at = None
        await self._notifier.notify({limit.job_type: EVERYONE})
        return next(u for u in await self._store.usage(now) if u.limit.job_type == limit.job_type)

    async def clear_limit(self, job_type: str) -> bool:
        """Remove a type's limit; False if it had none. Its held jobs go at once."""
        job_type = validate_job_type(job_type)
        removed = await self._store.remove(job_type)
        self._cached -= {job_type}
        self._by_running -= {job_type}
        self._by_group -= {job_type}
        self._read_at = None
        if removed:
            await self._notifier.notify({job_type: EVERYONE})
        return removed

    async def usage(self) -> list[LimitUsage]:
        return await self._store.usage(self._clock.now())

    def _wake_at(self, job_type: str, at: float) -> None:
        """Wake this server's consumers of ``job_type`` at ``at`` (the earliest asked)."""
        pending = self._timers.get(job_type)
        if pending is not None and pending[0] <= at:
            return
        if pending is not None:
            pending[1].cancel()
        delay = max(0.0, at - self._clock.now())
        handle = asyncio.get_running_loop().call_later(delay, self._wake, job_type)
        self._timers[job_type] = (at, handle)

    def _wake(self, job_type: str) -> None:
        self._timers.pop(job_type, None)
        self._notifier.wake({job_type: EVERYONE})

    def close(self) -> None:
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
