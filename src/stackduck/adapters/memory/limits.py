"""Limits in this process: the limits and their buckets in dicts, the running count from
the store. A limited claim reads, leases and spends with no await that lets anything
else run in between (one process: nothing else claims meanwhile)."""

from __future__ import annotations

from collections.abc import Collection

from stackduck.adapters.memory.store import MemoryJobStore
from stackduck.application.limits import LimitedClaim, LimitUsage
from stackduck.application.queue_claimer import QueueClaimer
from stackduck.domain.limits import Bucket, Limit


class MemoryLimits:
    def __init__(self, store: MemoryJobStore, claimer: QueueClaimer) -> None:
        self._store = store
        self._claimer = claimer
        self._limits: dict[str, Limit] = {}
        self._buckets: dict[str, Bucket] = {}

    async def limits(self) -> list[Limit]:
        return [self._limits[t] for t in sorted(self._limits)]

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
                (self._buckets.get(limit.job_type) or limit.full_bucket(now)).level(limit, now)
                if limit.rate
                else None,
            )
            for limit in await self.limits()
        ]

    async def claim(
        self,
        worker_id: str,
        job_types: Collection[str],
        limited: Collection[str],
        now: float,
        lease_seconds: float,
        limit: int,
    ) -> LimitedClaim:
        limits = {t: lim for t in limited if (lim := self._limits.get(t)) is not None}
        allowances = {
            t: lim.allowance(self._store.running(t), self._buckets.get(t), now, limit)
            for t, lim in limits.items()
        }
        caps = {t: allowance.starts for t, allowance in allowances.items()}
        jobs = await self._claimer.claim_capped(worker_id, job_types, caps, now, lease_seconds, limit)
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
            if allowances[t].rate_bound and started[t] == caps[t]:
                retry_at[t] = lim.next_token_at(bucket, now)
        return LimitedClaim(jobs, retry_at)
