"""Throughput over time, kept by the server itself for the dashboard's charts.

Per job type and minute: jobs enqueued, completed, retried and dead-lettered, how long
completed jobs ran (a histogram), and, sampled once a minute, how many due jobs waited
and how long the oldest of them had. No Prometheus needed.

Each instance counts what it does in memory (this is a ``Metrics`` port) and adds its
counts to the record every few seconds: ``HistoryStore.add`` adds, never overwrites, so
every instance's charts show every instance's jobs. The record keeps a day; an instance
holds only what it has not written yet, for at most ``MAX_TYPES`` job types a minute
(the others count together as ``OTHER``). A write that fails is retried with the next,
for up to an hour of minutes.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stackduck.application.due_loop import DueLoop
from stackduck.application.ports import Clock, TypeStats
from stackduck.application.shared_stats import REUSE_FACTOR, SharedStats
from stackduck.domain.errors import InvalidJob, StackduckError
from stackduck.domain.job import Job, JobStatus

log = logging.getLogger(__name__)

MINUTE = 60
#: How long the record keeps the minutes: the longest chart.
KEEP_SECONDS = 24 * 3600
#: How often an instance adds what it counted to the record.
FLUSH_SECONDS = 5.0
#: Run-time buckets' upper bounds, in seconds; a last bucket holds the longer runs.
RUN_BOUNDS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
#: How long counts a failed write left are kept for the next one (while storage is down).
UNWRITTEN_SECONDS = 3600
#: Job types one instance counts apart in a minute; the rest count as OTHER.
MAX_TYPES = 200
OTHER = "_other"
#: The charts: hours shown → seconds per point.
SPANS = {1: 60, 24: 600}
PERCENTILES = (0.5, 0.95, 0.99)


@dataclass(slots=True)
class MinuteCounts:
    """One job type's minute: what happened in it, and the queue as sampled in it."""

    minute: int  # Unix seconds at the minute's start
    job_type: str
    enqueued: int = 0
    completed: int = 0
    retried: int = 0
    dead: int = 0
    #: Completed jobs by run time: one count per RUN_BOUNDS bucket, then the longer ones.
    runs: list[int] = field(default_factory=lambda: [0] * (len(RUN_BOUNDS) + 1))
    #: Due jobs waiting when the minute was sampled (None: not sampled).
    depth: int | None = None
    #: How long the oldest of them had waited then, in seconds.
    oldest_wait: float | None = None

    def add(self, other: MinuteCounts) -> None:
        """Another instance's (or another write's) counts for the same minute and type;
        a sample replaces this one's."""
        self.enqueued += other.enqueued
        self.completed += other.completed
        self.retried += other.retried
        self.dead += other.dead
        self.runs = [mine + theirs for mine, theirs in zip(self.runs, other.runs, strict=True)]
        if other.depth is not None:
            self.depth, self.oldest_wait = other.depth, other.oldest_wait


class HistoryStore(Protocol):
    """The minutes every instance counted, kept where the record is."""

    async def add(self, minutes: Sequence[MinuteCounts]) -> None:
        """Add these counts to the minutes kept (creating them); a minute's sample, where
        one is given, replaces the one kept."""

    async def read(self, first: int, last: int, job_type: str | None) -> list[MinuteCounts]:
        """The minutes from ``first`` to ``last`` (included), of one job type or of every
        type, by minute and type."""

    async def prune(self, before: int) -> int:
        """Forget the minutes before ``before``; how many (minute, type) rows went."""


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a chart: ``step`` seconds from ``at``."""

    at: int
    enqueued: int
    completed: int
    retried: int
    dead: int
    depth: int | None
    oldest_wait: float | None
    #: Run-time percentiles (PERCENTILES), each a bucket's upper bound; None when
    #: nothing completed, inf past the last bound.
    run_percentiles: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    step: int
    points: list[Point]
    job_types: list[str]  # every type with a minute in the span


class History:
    """Counts per minute (the Metrics port), writes them to the record, draws charts."""

    def __init__(self, store: HistoryStore, stats: SharedStats, clock: Clock) -> None:
        self._store = store
        self._stats = stats
        self._clock = clock
        self._pending: dict[tuple[int, str], MinuteCounts] = {}
        self._sampled = -1  # the last minute whose queue this instance sampled
        self._next_sample = 0.0  # no sample before then
        self._pruned = 0.0
        self.loop = DueLoop("history", self.flush, clock)

    # -- the Metrics port --------------------------------------------------------------

    def enqueued(self, jobs: Sequence[Job]) -> None:
        now = self._clock.now()
        for job in jobs:
            self._minute(now, job.job_type).enqueued += 1

    def delivered(self, jobs: Sequence[Job], now: float) -> None:
        """Not charted: a delivery shows as the completion or failure that follows."""

    def completed(self, jobs: Sequence[Job], now: float) -> None:
        for job in jobs:
            counts = self._minute(now, job.job_type)
            counts.completed += 1
            if job.started_at is not None:
                counts.runs[bisect_left(RUN_BOUNDS, now - job.started_at)] += 1

    def failed(self, jobs: Sequence[Job], now: float) -> None:
        for job in jobs:
            if job.status is JobStatus.QUEUED:
                self._minute(now, job.job_type).retried += 1
            elif job.status is JobStatus.FAILED:
                self._minute(now, job.job_type).dead += 1

    def streams_open(self, count: int) -> None:
        """Not charted."""

    def claimed(self, asked: int, leased: int) -> None:
        """Not charted."""

    # -- writing -----------------------------------------------------------------------

    async def flush(self) -> float:
        """Sample the queue once a minute, add what was counted to the record, forget
        the old minutes now and then; returns when to flush next."""
        now = self._clock.now()
        minute = _minute_of(now)
        if minute != self._sampled and now >= self._next_sample:
            self._sampled = minute
            self._sample(await self._stats.read(keep=False), now)
            # A slow store (stats walk every job) is sampled less often: at most a tenth
            # of its time goes to the charts' samples.
            self._next_sample = now + max(0.0, REUSE_FACTOR * self._stats.took - MINUTE)
        pending, self._pending = self._pending, {}
        if pending:
            try:
                await self._store.add(list(pending.values()))
            except StackduckError:
                self._keep(pending, now)
                raise
        if now - self._pruned >= KEEP_SECONDS / 24:
            self._pruned = now
            await self._store.prune(minute - KEEP_SECONDS)
        return now + FLUSH_SECONDS

    def _sample(self, stats: list[TypeStats], now: float) -> None:
        for item in stats:
            waiting = sum(item.ready_by_priority)
            counts = self._minute(now, item.job_type)
            if counts.depth is not None and counts.job_type == OTHER:
                waiting += counts.depth  # OTHER's sample is the sum of its types'
            oldest = None if item.oldest_ready_at is None else max(0.0, now - item.oldest_ready_at)
            if counts.job_type == OTHER and counts.oldest_wait is not None and oldest is not None:
                oldest = max(oldest, counts.oldest_wait)
            counts.depth, counts.oldest_wait = waiting, oldest

    def _keep(self, unwritten: dict[tuple[int, str], MinuteCounts], now: float) -> None:
        """Counts a failed write leaves: back into what the next write adds, for an hour
        (so an instance holds at most an hour's minutes while storage is down)."""
        horizon = _minute_of(now) - UNWRITTEN_SECONDS
        for key, counts in unwritten.items():
            if key[0] < horizon:
                continue
            kept = self._pending.get(key)
            if kept is None:
                self._pending[key] = counts
            else:
                counts.add(kept)
                self._pending[key] = counts

    def _minute(self, now: float, job_type: str) -> MinuteCounts:
        minute = _minute_of(now)
        counts = self._pending.get((minute, job_type))
        if counts is None:
            if sum(1 for m, _ in self._pending if m == minute) >= MAX_TYPES and job_type != OTHER:
                return self._minute(now, OTHER)
            counts = self._pending[(minute, job_type)] = MinuteCounts(minute, job_type)
        return counts

    # -- reading -----------------------------------------------------------------------

    async def chart(self, hours: int, job_type: str | None) -> Chart:
        """The last ``hours`` (1 or 24), a point per minute or per ten, of one job type or
        of all: the record's minutes with this instance's unwritten ones."""
        step = SPANS.get(hours)
        if step is None:
            raise InvalidJob(f"hours must be one of {', '.join(map(str, SPANS))}; got {hours}")
        now = self._clock.now()
        last = int(now) // step * step
        first = last - (hours * 3600 // step - 1) * step
        minutes = await self._store.read(first, _minute_of(now), None)
        minutes += [counts for (minute, _), counts in self._pending.items() if minute >= first]
        job_types = sorted({m.job_type for m in minutes})
        chosen = [m for m in minutes if job_type is None or m.job_type == job_type]
        return Chart(step, _points(chosen, first, last, step), job_types)


def _minute_of(now: float) -> int:
    return int(now) // MINUTE * MINUTE


def _points(minutes: list[MinuteCounts], first: int, last: int, step: int) -> list[Point]:
    """Sum each point's minutes over the types; a point's depth is its latest sampled
    minute's, summed over the types sampled then, and the oldest wait their longest."""
    per_point: dict[int, dict[tuple[int, str], MinuteCounts]] = {}
    for item in minutes:
        if first <= item.minute < last + step:
            merged = per_point.setdefault(item.minute // step * step, {})
            key = (item.minute, item.job_type)
            if key in merged:
                copy = MinuteCounts(item.minute, item.job_type)
                copy.add(merged[key])
                copy.add(item)
                merged[key] = copy
            else:
                merged[key] = item
    points = []
    for at in range(first, last + step, step):
        rows = list(per_point.get(at, {}).values())
        runs = [sum(column) for column in zip(*(r.runs for r in rows), strict=True)] if rows else []
        sampled = [r for r in rows if r.depth is not None]
        latest = max((r.minute for r in sampled), default=None)
        now_rows = [r for r in sampled if r.minute == latest]
        waits = [r.oldest_wait for r in now_rows if r.oldest_wait is not None]
        points.append(
            Point(
                at=at,
                enqueued=sum(r.enqueued for r in rows),
                completed=sum(r.completed for r in rows),
                retried=sum(r.retried for r in rows),
                dead=sum(r.dead for r in rows),
                depth=sum(r.depth or 0 for r in now_rows) if now_rows else None,
                oldest_wait=max(waits) if waits else (0.0 if now_rows else None),
                run_percentiles=tuple(_percentile(runs, q) for q in PERCENTILES),
            )
        )
    return points


def _percentile(runs: list[int], q: float) -> float | None:
    """The upper bound of the bucket holding the q-th run (inf: past the last bound)."""
    total = sum(runs)
    if not total:
        return None
    wanted, seen = q * total, 0
    for bound, count in zip((*RUN_BOUNDS, float("inf")), runs, strict=True):
        seen += count
        if seen >= wanted:
            return bound
    return float("inf")
