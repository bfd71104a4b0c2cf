"""Looking at jobs and repairing them: get, list, cancel, dead letters, run now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from stackduck.application.moves import Outcome, apply_moves
from stackduck.application.ports import Clock, JobQuery, JobStore, Order, Page, Signals
from stackduck.application.ready_path import ReadyPath
from stackduck.application.stops import cancel_stops
from stackduck.domain.errors import IllegalTransition, InvalidJob, JobNotFound
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.rules import validate_group, validate_id, validate_job_type

#: The states a job ends in, the only ones a job is deleted from.
ENDED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
#: How much of a page's jobs (payloads, error messages: ports.listed_bytes) a listing
#: loads at most, unless the caller says otherwise; the rest comes on the next page.
DEFAULT_PAGE_BYTES = 4 * 1024 * 1024


def page_size(limit: int) -> int:
    if limit == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidJob(f"limit must be 1 to {MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE}; got {limit}")
    return limit


class JobAdmin:
    def __init__(self, store: JobStore, ready: ReadyPath, signals: Signals, clock: Clock) -> None:
        self._store = store
        self._ready = ready
        self._signals = signals
        self._clock = clock

    async def get(self, job_id: str) -> Job:
        found = await self._store.get([job_id])
        if job_id not in found:
            raise JobNotFound(job_id)
        return found[job_id]

    async def list_jobs(
        self,
        query: JobQuery,
        limit: int = 0,
        cursor: str = "",
        max_bytes: int = DEFAULT_PAGE_BYTES,
    ) -> Page:
        """A page of at most ``limit`` jobs and ``max_bytes`` (its first job whatever its
        size); ``next_cursor`` continues it."""
        cursor = validate_id("page_token", cursor)
        return await self._store.list_jobs(
            checked(query, self._clock.now()), page_size(limit), cursor, max_bytes
        )

    async def dead_letters(
        self, job_type: str | None, limit: int = 0, cursor: str = "", max_bytes: int = DEFAULT_PAGE_BYTES
    ) -> Page:
        query = JobQuery(status=JobStatus.FAILED, job_type=job_type or None)
        return await self.list_jobs(query, limit, cursor, max_bytes)

    async def cancel(self, job_ids: Sequence[str]) -> list[Outcome]:
        """Cancel queued, scheduled or running jobs (the stream holding a running one is
        told, on whichever instance it is); finished ones are refused."""
        now = self._clock.now()
        outcomes = await apply_moves(self._store, [(i, partial(Job.cancel, now=now)) for i in job_ids])
        cancelled = [o.job for o in outcomes if o.job is not None]
        self._signals.send_stops(cancel_stops(cancelled))
        self._signals.changed(job.id for job in cancelled)
        await self._ready.withdraw(cancelled)
        return outcomes

    async def requeue_dead(self, job_ids: Sequence[str]) -> list[Outcome]:
        """Give dead letters a fresh retry budget and queue them now."""
        now = self._clock.now()
        outcomes = await apply_moves(self._store, [(i, partial(Job.requeue, now=now)) for i in job_ids])
        requeued = [o.job for o in outcomes if o.job is not None]
        self._signals.changed(job.id for job in requeued)
        await self._ready.offer(requeued, now)
        return outcomes

    async def run_now(self, job_ids: Sequence[str]) -> list[Outcome]:
        """Cut short the wait of queued jobs scheduled for later (e.g. a retry's backoff)."""
        now = self._clock.now()
        outcomes = await apply_moves(self._store, [(i, partial(Job.run_now, now=now)) for i in job_ids])
        moved = [o.job for o in outcomes if o.job is not None]
        self._signals.changed(job.id for job in moved)
        await self._ready.withdraw(moved)
        await self._ready.offer(moved, now)
        return outcomes

    async def delete(self, job_id: str) -> None:
        """Remove an ended job (completed, dead or cancelled) for good. A queued or running
        one is refused: cancel it first, so no worker holds a job that is gone."""
        job = await self.get(job_id)
        if job.status not in ENDED:
            raise IllegalTransition(
                f"job {job_id} is {job.status.value}: only an ended job (completed, failed, cancelled) "
                "may be deleted; cancel it first"
            )
        if not await self._store.delete([job_id], ENDED):
            raise IllegalTransition(f"job {job_id} changed while it was being deleted; look again")
        self._signals.changed([job_id])

    async def delete_ended(self, job_ids: Sequence[str]) -> int:
        """Remove those of these jobs that have ended, for good; how many went."""
        deleted = await self._store.delete(job_ids, ENDED)
        self._signals.changed(job_ids)
        return deleted

    async def counts(self) -> dict[str, int]:
        return await self._store.count(self._clock.now())


def checked(query: JobQuery, now: float) -> JobQuery:
    """A listing's query with its filters checked (InvalidJob names the one to fix), and
    ``now`` for the filter on jobs waiting for their time."""
    if query.job_type is not None:
        validate_job_type(query.job_type)
    if query.priority is not None and query.priority not in (1, 2, 3):
        raise InvalidJob(f"priority must be 1, 2 or 3; got {query.priority}")
    if query.group is not None:
        validate_group(query.group)
    if query.metadata is not None and not query.metadata[0]:
        raise InvalidJob("a metadata filter needs a key: key=value")
    if query.order is Order.DUE and query.status not in (None, JobStatus.QUEUED):
        raise InvalidJob("sorting by due time lists queued jobs: drop the status filter or pick queued")
    return replace(query, now=now)
