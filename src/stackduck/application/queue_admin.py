"""What operators do to a running queue: stats, pause and resume, the workers
connected here, and dead letters re-queued or purged in bulk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from stackduck.application.consumers import Consumer, ConsumerRegistry
from stackduck.application.job_admin import DEFAULT_PAGE_BYTES, JobAdmin
from stackduck.application.paused_types import PausedTypes
from stackduck.application.ports import JobQuery, JobStore, TypeStats
from stackduck.application.shared_stats import SharedStats
from stackduck.domain.errors import InvalidJob
from stackduck.domain.job import JobStatus
from stackduck.domain.rules import validate_id, validate_job_type

BULK_PAGE = 500


@dataclass(frozen=True, slots=True)
class DeadLetterSelection:
    """The ids given; else every dead letter of ``job_type``; else (``everything``) all of them."""

    job_ids: tuple[str, ...] = ()
    job_type: str = ""
    everything: bool = False

    def check(self) -> None:
        chosen = sum((bool(self.job_ids), bool(self.job_type), self.everything))
        if chosen != 1:
            raise InvalidJob("name the dead letters: job_ids, or a job_type, or all=true (exactly one)")
        if self.job_type:
            validate_job_type(self.job_type)
        for job_id in self.job_ids:
            validate_id("job_ids", job_id)


@dataclass(frozen=True, slots=True)
class QueueView:
    stats: TypeStats
    paused: bool


class QueueAdmin:
    def __init__(
        self,
        store: JobStore,
        job_admin: JobAdmin,
        paused: PausedTypes,
        consumers: ConsumerRegistry,
        stats: SharedStats,
    ) -> None:
        self._store = store
        self._job_admin = job_admin
        self._paused = paused
        self._consumers = consumers
        self._stats = stats

    async def queues(self, job_type: str = "") -> list[QueueView]:
        """Every job type with jobs, or one; paused types show even when empty."""
        if job_type:
            validate_job_type(job_type)
        stats = {s.job_type: s for s in await self._stats.read() if not job_type or s.job_type == job_type}
        paused = await self._paused.paused()
        for name in paused - stats.keys():
            if not job_type or name == job_type:
                stats[name] = TypeStats.empty(name)
        return [QueueView(stats[name], name in paused) for name in sorted(stats)]

    async def pause(self, job_type: str) -> None:
        await self._paused.pause(job_type)

    async def resume(self, job_type: str) -> None:
        await self._paused.resume(job_type)

    def workers(self) -> list[Consumer]:
        return sorted(self._consumers.consumers, key=lambda c: (c.worker_id, c.connected_at))

    async def requeue_dead(self, selection: DeadLetterSelection) -> int:
        requeued = 0
        async for ids in self._dead_ids(selection):
            outcomes = await self._job_admin.requeue_dead(ids)
            requeued += sum(1 for outcome in outcomes if outcome.error is None)
        self._stats.forget()
        return requeued

    async def purge_dead(self, selection: DeadLetterSelection) -> int:
        purged = 0
        async for ids in self._dead_ids(selection):
            purged += await self._store.delete(ids, [JobStatus.FAILED])
        self._stats.forget()
        return purged

    async def _dead_ids(self, selection: DeadLetterSelection) -> AsyncIterator[list[str]]:
        selection.check()
        if selection.job_ids:
            yield list(dict.fromkeys(selection.job_ids))
            return
        cursor = ""
        while True:
            dead = JobQuery(status=JobStatus.FAILED, job_type=selection.job_type or None)
            page = await self._store.list_jobs(dead, BULK_PAGE, cursor, DEFAULT_PAGE_BYTES)
            if page.jobs:
                yield [job.id for job in page.jobs]
            if not page.next_cursor:
                return
            cursor = page.next_cursor
