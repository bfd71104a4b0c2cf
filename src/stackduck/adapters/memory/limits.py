"""Limits and groups in this process: the limits and their buckets in dicts, the running
counts from the store, the groups' turns in the queue (turns.py). A limited or grouped
claim reads, leases and spends with no await that lets anything else run in between
(one process: nothing else claims meanwhile)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from stackduck.adapters.memory.queue import MemoryReadyQueue
from stackduck.application.limits import LimitedClaim, LimitUsage
from stackduck.application.queue_claimer import QueueClaimer
from stackduck.domain.job import Job
from stackduck.domain.limits import Bucket, Limit


class RunningCounts(Protocol):
    """A store in this process that counts its running jobs as it writes them."""

    def running(self, job_type: str) -> int: ...

    def running_in_group(self, job_type: str, group: str) -> int: ...


class MemoryLimits:
    def __init__(self, store: RunningCounts, queue: MemoryReadyQueue, claimer: QueueClaimer) -> None:
        self._store = store
        self._queue = queue
        self._claimer = claimer
        self._limits: dict[str, Limit] = {}
        self._buckets: dict[str, Bucket] = {}

    async def limits(self) -> list[Limit]:
        return [self._limits[t] for t in sorted(self._limits)]

    async def grouped(self) -> frozenset[str]:
        return self._queue.grouped()

    async def freed(self, job_type: str, groups: Collection[str], now: float) -> None:
        self._queue.unpark(job_type, groups)

    async def put(self, limit: Limit, now: float) -> None:
        self._limits[limit.job_type] = limit
        bucket = self._buckets.pop(limit.job_type, None)
        if limit.rate and bucket is not None:
            self._buckets[limit.job_type] = Bucket(min(bucket.tokens, limit.bucket_size), bucket.at)

    async def remove(self, job_type: str) -> bool:
        self._buckets.pop(job_type, None)
        return self._limits.pop(job_type, None) is not None

    async def usage(self, now: float) -> list[LimitUsage]:
        return [
            LimitUsage(
                limit,
                self._store.running(limit.job_type),
                limit.tokens(self._buckets.get(limit.job_type), now),
            )
            for limit in await self.limits()
        ]

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
        # The queue takes a grouped type's groups in turns whatever the claim; here the
        # limits are counted too. One entry a pop: each start changes the counts the next
        # pop is judged by (a group's room, a type's allowance).
        limits = {t: lim for t in limited if (lim := self._limits.get(t)) is not None}
        if not limits:  # groups alone: the queue's pops take their turns
            return LimitedClaim(await self._claimer.claim([worker_id] * limit, job_types, now, lease_seconds))
        allowances = {
            t: lim.allowance(self._store.running(t), self._buckets.get(t), now, limit)
            for t, lim in limits.items()
        }
        left = {t: allowance.starts for t, allowance in allowances.items()}
        per_group = {t: lim for t, lim in limits.items() if lim.group_concurrency}

        def room(job_type: str, group: str) -> int:
            lim = per_group.get(job_type)
            return (
                limit
                if lim is None
                else lim.group_allowance(self._store.running_in_group(job_type, group), limit)
            )

        jobs: list[Job] = []
        while len(jobs) < limit:
            open_types = [t for t in job_types if left.get(t, 1) > 0]
            entries = (
                await self._queue.pop(open_types, now, 1, room if per_group else None) if open_types else []
            )
            if not entries:
                break
            for job in await self._claimer.start(entries, worker_id, now, lease_seconds):
                jobs.append(job)
                if job.job_type in left:
                    left[job.job_type] -= 1
        started = {t: 0 for t in limits}
        for job in jobs:
            if job.job_type in started:
                started[job.job_type] += 1
        retry_at: dict[str, float] = {}
        for t, lim in limits.items():
            bucket = lim.spend(self._buckets.get(t), started[t], now)
            if bucket is None:
                continue
            self._buckets[t] = bucket
            if allowances[t].rate_bound and started[t] == allowances[t].starts:
                retry_at[t] = lim.next_token_at(bucket, now)
        return LimitedClaim(sorted(jobs, key=lambda job: job.ready_key), retry_at)
