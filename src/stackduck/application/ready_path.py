"""The ready path: queued jobs go where dispatch finds them, consumers are woken,
and jobs scheduled for later are promoted when their time comes.

Where the storage keeps a ready queue beside the record (memory; Redis over
PostgreSQL), offered jobs are pushed to it and withdrawn ones removed. Where the
record's own writes keep the queue (PostgreSQL's table; Redis alone, whose store
scripts write each job's entry with the job), a stored job is findable as it is, and
the path only wakes consumers and keeps time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from stackduck.application.due_loop import DueLoop
from stackduck.application.ports import Clock, Notifier, QueueEntry, ReadyQueue, Schedule
from stackduck.domain.job import Job, JobStatus

if TYPE_CHECKING:
    from stackduck.application.limits import Limits

#: A wake-up count larger than any number of waiting consumers.
EVERYONE = 1_000_000


class ReadyPath:
    def __init__(
        self,
        schedule: Schedule,
        queue: ReadyQueue | None,
        notifier: Notifier,
        clock: Clock,
        limits: Limits | None = None,
    ) -> None:
        """``limits``: the limits and groups, whose held jobs wait for running ones to end."""
        self._schedule = schedule
        self._queue = queue
        self._notifier = notifier
        self._clock = clock
        self._limits = limits
        self.scheduler = DueLoop("scheduler", self.promote_due, clock)

    async def offer(self, jobs: Iterable[Job], now: float) -> None:
        """Queue every job that is in the queued state; wake consumers of due ones, and
        of types with a concurrency or group_concurrency whose jobs stopped running (their
        place may let a held one go)."""
        jobs = list(jobs)
        queued = [job for job in jobs if job.status is JobStatus.QUEUED]
        if self._limits is not None:
            for job in queued:
                if job.group_key:  # its type's claims take turns, here at once
                    self._limits.has_grouped(job.job_type)
        limited = self._limits.counted() if self._limits is not None else frozenset()
        due = Counter(job.job_type for job in queued if job.run_at <= now)
        if limited:  # due ones wake their consumers anyway
            assert self._limits is not None
            await self._limits.ended(jobs, now)
            due.update(
                job.job_type
                for job in jobs
                if job.job_type in limited
                and job.status is not JobStatus.RUNNING
                and not (job.status is JobStatus.QUEUED and job.run_at <= now)
            )
        if not queued and not due:
            return
        if self._queue is not None and queued:
            await self._queue.push([QueueEntry.of(job) for job in queued], now)
        if due:
            await self._notifier.notify(due)
        later = [job.run_at for job in queued if job.run_at > now]
        if later:
            self.scheduler.poke(min(later))

    async def wake_all(self, job_types: Iterable[str]) -> None:
        """Every consumer of these types looks at the queue again."""
        await self._notifier.notify(dict.fromkeys(job_types, EVERYONE))

    async def withdraw(self, jobs: Iterable[Job]) -> None:
        """Take jobs out of the queue (cancelled, or about to be re-offered)."""
        if self._queue is not None:
            await self._queue.remove([QueueEntry.of(job) for job in jobs])

    async def promote_due(self) -> float | None:
        """Make due jobs ready and wake their consumers; returns the next due time."""
        promoted = await self._schedule.promote_due(self._clock.now())
        if promoted:
            await self._notifier.notify(promoted)
        return await self._schedule.next_due()
