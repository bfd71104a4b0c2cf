"""The job store in a dict: the record of the memory configuration."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from stackduck.adapters.stats_tally import StatsTally
from stackduck.application.moves import complete_by_moves
from stackduck.application.ports import (
    Change,
    Completion,
    JobQuery,
    Order,
    Page,
    QueueEntry,
    TypeStats,
    due_place,
    listed_bytes,
    page_cursor,
)
from stackduck.application.queue_claimer import start_by_moves
from stackduck.domain.job import Job, JobStatus

#: An idempotency key's scope: the job type, and the key.
Scope = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Hold:
    """Which job holds an idempotency key, and until when at least (its window)."""

    job_id: str
    until: float


class MemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._by_status: dict[JobStatus, set[str]] = {status: set() for status in JobStatus}
        self._running: Counter[str] = Counter()  # per job type, what a limit counts
        self._running_groups: Counter[tuple[str, str]] = Counter()  # per (type, group)
        self._leases: list[tuple[float, str, int]] = []  # (deadline, job id, attempt); lazily pruned
        self._keys: dict[Scope, Hold] = {}
        # Keys whose jobs were deleted, by the end of their window: what free_keys forgets.
        self._gone: list[tuple[float, Scope, str]] = []

    async def insert(self, jobs: Sequence[Job], key_seconds: float = 0.0) -> list[str]:
        # Checked and written with no await in between: nothing else runs meanwhile.
        for job in jobs:
            if job.id in self._jobs:
                raise ValueError(f"job {job.id} already exists")
        holders: list[str] = []
        taken: dict[Scope, Hold] = {}  # by this batch: held whatever the time
        for job in jobs:
            holder = job.id
            if job.idempotency_key:
                scope = (job.job_type, job.idempotency_key)
                held = taken.get(scope) or self._keys.get(scope)
                if held is not None and (scope in taken or self._holds(held, job.created_at)):
                    holder = held.job_id
                else:
                    taken[scope] = Hold(job.id, job.created_at + key_seconds)
            holders.append(holder)
        self._keys.update(taken)
        for job, holder in zip(jobs, holders, strict=True):
            if holder == job.id:
                self._put(job.copy())
        return holders

    def _holds(self, hold: Hold, now: float) -> bool:
        """A key is held while its job is kept, and to the end of its window."""
        return hold.job_id in self._jobs or now <= hold.until

    async def get(self, job_ids: Sequence[str]) -> dict[str, Job]:
        return {i: self._jobs[i].copy() for i in job_ids if i in self._jobs}

    async def apply(self, changes: Sequence[Change]) -> list[bool]:
        written = []
        for change in changes:
            current = self._jobs.get(change.job.id)
            ok = current is not None and current.version == change.expected_version
            if ok:
                assert current is not None
                self._drop(current)
                self._put(change.job.copy())
            written.append(ok)
        return written

    async def start(self, owners: Mapping[str, str], now: float, lease_seconds: float) -> list[Job]:
        return await start_by_moves(self, owners, now, lease_seconds)

    async def complete(self, completions: Sequence[Completion]) -> list[Job | None]:
        return await complete_by_moves(self, completions)

    async def expired_leases(self, now: float, limit: int) -> list[Job]:
        taken: list[tuple[float, str, int]] = []
        expired: list[Job] = []
        while self._leases and self._leases[0][0] <= now and len(expired) < limit:
            deadline, job_id, attempt = heapq.heappop(self._leases)
            job = self._jobs.get(job_id)
            if job is not None and self._is_live(job, deadline, attempt):
                taken.append((deadline, job_id, attempt))
                expired.append(job.copy())
        for entry in taken:  # reading must not forget: the reaper's write retires them
            heapq.heappush(self._leases, entry)
        return expired

    async def next_lease_deadline(self) -> float | None:
        while self._leases:
            deadline, job_id, attempt = self._leases[0]
            job = self._jobs.get(job_id)
            if job is not None and self._is_live(job, deadline, attempt):
                return deadline
            heapq.heappop(self._leases)
        return None

    async def runnable(self, limit: int, after: str) -> list[QueueEntry]:
        ids = sorted(i for i in self._by_status[JobStatus.QUEUED] if i > after)[:limit]
        return [QueueEntry.of(self._jobs[i]) for i in ids]

    async def list_jobs(self, query: JobQuery, limit: int, cursor: str, max_bytes: int) -> Page:
        """A walk over the jobs of the status asked (every job otherwise), sorted; the
        cursor is the last job's id, or for due order its due time and id (keyset)."""
        status = query.walked_status
        pool = self._by_status[status] if status is not None else self._jobs.keys()
        jobs: list[Job]
        if query.order is Order.DUE:
            due_key = due_place(cursor) if cursor else None
            jobs = sorted(
                (self._jobs[i] for i in pool if due_key is None or (self._jobs[i].run_at, i) > due_key),
                key=lambda j: (j.run_at, j.id),
            )
        else:
            newest = query.order is Order.NEWEST
            ids = sorted(pool, reverse=newest)
            if cursor:
                ids = [i for i in ids if (i < cursor if newest else i > cursor)]
            jobs = [self._jobs[i] for i in ids]
        found: list[Job] = []
        used, more = 0, False
        for job in jobs:
            if query.matches(job):
                size = listed_bytes(job)
                if len(found) == limit or (found and used + size > max_bytes):
                    more = True
                    break
                found.append(job.copy())
                used += size
        if not more or not found:
            return Page(found, "")
        last = found[-1]
        return Page(found, page_cursor(query.order, last))

    async def count_jobs(self, query: JobQuery) -> int:
        status = query.walked_status
        pool = self._by_status[status] if status is not None else self._jobs.keys()
        return sum(1 for job_id in pool if query.matches(self._jobs[job_id]))

    async def count(self, now: float) -> dict[str, int]:
        counts = {status.value: len(ids) for status, ids in self._by_status.items()}
        scheduled = sum(1 for i in self._by_status[JobStatus.QUEUED] if self._jobs[i].run_at > now)
        counts["queued"] -= scheduled
        counts["scheduled"] = scheduled
        return counts

    async def stats(self, now: float, since: float) -> list[TypeStats]:
        tally = StatsTally(now, since)
        for job in self._jobs.values():
            tally.add(job.job_type, job.status.value, job.priority, job.run_at, job.completed_at)
        return tally.result()

    async def delete(
        self, job_ids: Sequence[str], statuses: Collection[JobStatus], finished_before: float | None = None
    ) -> int:
        deleted = 0
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is None or job.status not in statuses:
                continue
            done = job.completed_at
            if finished_before is None or (done is not None and done < finished_before):
                del self._jobs[job_id]
                self._drop(job)
                deleted += 1
                scope = (job.job_type, job.idempotency_key)
                if job.idempotency_key and (hold := self._keys.get(scope)) and hold.job_id == job_id:
                    heapq.heappush(self._gone, (hold.until, scope, job_id))
        return deleted

    async def prune(self, statuses: Collection[JobStatus], finished_before: float, limit: int) -> int:
        doomed = [
            job_id
            for status in statuses
            for job_id in self._by_status[status]
            if (done := self._jobs[job_id].completed_at) is not None and done < finished_before
        ][:limit]
        return await self.delete(doomed, statuses, finished_before)

    async def free_keys(self, now: float, limit: int) -> int:
        freed = 0
        while self._gone and self._gone[0][0] < now and freed < limit:
            _, scope, job_id = heapq.heappop(self._gone)
            hold = self._keys.get(scope)
            if hold is not None and hold.job_id == job_id and not self._holds(hold, now):
                del self._keys[scope]
                freed += 1
        return freed

    def running(self, job_type: str) -> int:
        """How many jobs of the type are running."""
        return self._running[job_type]

    def running_in_group(self, job_type: str, group: str) -> int:
        """How many jobs of the type's group are running."""
        return self._running_groups[(job_type, group)]

    def _put(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._by_status[job.status].add(job.id)
        if job.status is JobStatus.RUNNING:
            self._running[job.job_type] += 1
            self._running_groups[(job.job_type, job.group_key)] += 1
            if job.lease_expires_at is not None:
                heapq.heappush(self._leases, (job.lease_expires_at, job.id, job.attempt))

    def _drop(self, job: Job) -> None:
        """Forget ``job``'s place in the indexes (it is replaced or deleted)."""
        self._by_status[job.status].discard(job.id)
        if job.status is JobStatus.RUNNING:
            self._running[job.job_type] -= 1
            if not self._running[job.job_type]:
                del self._running[job.job_type]
            group = (job.job_type, job.group_key)
            self._running_groups[group] -= 1
            if not self._running_groups[group]:
                del self._running_groups[group]

    @staticmethod
    def _is_live(job: Job, deadline: float, attempt: int) -> bool:
        return job.status is JobStatus.RUNNING and job.attempt == attempt and job.lease_expires_at == deadline
