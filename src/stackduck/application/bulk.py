"""Bulk actions on jobs from the dashboard: cancel, re-queue or delete a selection —
the jobs named, or every job a filter (the jobs browser's) matches — counted first, so
the operator confirms a number, then changed a page at a time. Each job is changed by
the same move as alone (cancel, requeue a dead letter, delete an ended job); a job
whose state the action does not fit is left be and not counted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from stackduck.application.job_admin import DEFAULT_PAGE_BYTES, ENDED, JobAdmin, checked
from stackduck.application.moves import Outcome
from stackduck.application.ports import Clock, JobQuery, JobStore, Order
from stackduck.domain.errors import InvalidJob
from stackduck.domain.job import JobStatus
from stackduck.domain.rules import validate_id

BULK_PAGE = 500
#: The most ids one selection may name (a filter selects any number).
MAX_NAMED = 10_000


@dataclass(frozen=True, slots=True)
class JobSelection:
    """The jobs named; else every job the filter matches; an empty filter only with
    ``everything``, so no omission selects all."""

    job_ids: tuple[str, ...] = ()
    filter: JobQuery = field(default_factory=JobQuery)
    everything: bool = False

    def check(self) -> None:
        filtered = replace(self.filter, order=Order.OLDEST, now=0.0) != JobQuery()
        chosen = sum((bool(self.job_ids), filtered, self.everything))
        if chosen != 1:
            raise InvalidJob(
                "select the jobs one way: job_ids, or a filter (status, job_type, priority, group, "
                "scheduled, metadata), or all=true"
            )
        if len(self.job_ids) > MAX_NAMED:
            raise InvalidJob(f"job_ids names {len(self.job_ids)} jobs; at most {MAX_NAMED} (or use a filter)")
        for job_id in self.job_ids:
            validate_id("job_ids", job_id)


Moves = Callable[[Sequence[str]], Awaitable[list[Outcome]]]
Changes = Callable[[Sequence[str]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Action:
    fits: tuple[JobStatus, ...]  # the states a job must be in for the action
    apply: Changes  # ids -> how many changed


class BulkActions:
    def __init__(self, job_admin: JobAdmin, store: JobStore, clock: Clock) -> None:
        self._job_admin = job_admin
        self._store = store
        self._clock = clock
        self._actions = {
            "cancel": Action((JobStatus.QUEUED, JobStatus.RUNNING), _changed(job_admin.cancel)),
            "requeue": Action((JobStatus.FAILED,), _changed(job_admin.requeue_dead)),
            "delete": Action(ENDED, job_admin.delete_ended),
        }

    def _action(self, name: str) -> Action:
        found = self._actions.get(name)
        if found is None:
            raise InvalidJob(f"action must be one of {', '.join(self._actions)}; got {name!r}")
        return found

    async def count(self, name: str, selection: JobSelection) -> int:
        """How many selected jobs the action fits now (what the operator confirms): counted
        by the store for a filter, without reading the jobs."""
        action = self._action(name)
        selection.check()
        if selection.job_ids:
            return sum([len(ids) async for ids in self._fitting(action, selection)])
        wanted = checked(selection.filter, self._clock.now())
        statuses = [s for s in action.fits if wanted.status in (None, s)]
        return sum([await self._store.count_jobs(replace(wanted, status=s)) for s in statuses])

    async def apply(self, name: str, selection: JobSelection) -> int:
        """Change every selected job the action fits; how many were changed."""
        action = self._action(name)
        return sum([await action.apply(ids) async for ids in self._fitting(action, selection)])

    async def _fitting(self, action: Action, selection: JobSelection) -> AsyncIterator[list[str]]:
        """The selected jobs in a state the action fits, a page of ids at a time."""
        selection.check()
        if selection.job_ids:
            stored = await self._store.get(list(dict.fromkeys(selection.job_ids)))
            fitting = [job.id for job in stored.values() if job.status in action.fits]
            for start in range(0, len(fitting), BULK_PAGE):
                yield fitting[start : start + BULK_PAGE]
            return
        wanted = selection.filter
        statuses = [s for s in action.fits if wanted.status in (None, s)]
        for status in statuses:
            query = replace(wanted, status=status, order=Order.OLDEST)
            cursor = ""
            while True:
                page = await self._job_admin.list_jobs(query, BULK_PAGE, cursor, DEFAULT_PAGE_BYTES)
                if page.jobs:
                    yield [job.id for job in page.jobs]
                if not page.next_cursor:
                    break
                cursor = page.next_cursor


def _changed(move: Moves) -> Changes:
    """A move over ids, as the number of jobs it changed."""

    async def apply(job_ids: Sequence[str]) -> int:
        return sum(outcome.job is not None for outcome in await move(job_ids))

    return apply
