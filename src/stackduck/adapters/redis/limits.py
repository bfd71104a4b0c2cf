"""Limits and fair groups on Redis alone (ADR 0028, 0029): per limited type a hash in the
type's slot (its limit, and its rate's bucket: ``tokens`` as of ``at``, none while full
and new), the set of limited types, and per type the set of its running jobs, which every
script that moves a job into or out of running keeps (and per group, for a grouped job,
its group's running set and the type's set of running grouped jobs). A grouped type's
jobs wait in their groups, whose turns the store's scripts keep (``_groups.lua``).

A claim that names a limited or grouped type is one script, ``claim_limited.lua``: the
running sets' sizes and the buckets read, the groups taken in turns, the leases written
and the tokens spent with nothing in between, on whichever instance claims.

The running count of a group is kept as a set per (type, group), not derived: deriving
it would read the group of every running job of the type on each claim; the sets cost a
SADD and an SREM per grouped job's start and end, in the scripts that move it anyway. The
group "" (a grouped type's ungrouped jobs) is the type's running set less its running
grouped jobs, so an ungrouped job's moves do no more work than before."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from stackduck.adapters.redis.claimer import claim_args, claim_keys, leased_jobs
from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import translated
from stackduck.adapters.redis.fields import FIELDS
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.lua import Script
from stackduck.application.limits import LimitedClaim, LimitUsage
from stackduck.domain.job import JobStatus
from stackduck.domain.limits import Bucket, Limit
from stackduck.domain.priority import PRIORITIES

#: The limit hash's fields, as read back.
STORED = ("concurrency", "rate", "per", "burst", "tokens", "at", "group_concurrency")


def _stored(job_type: str, values: Sequence[str | None]) -> tuple[Limit, Bucket | None] | None:
    """A type's limit and its bucket from its hash's ``STORED`` values (None: no limit)."""
    concurrency, rate, per, burst, tokens, at, group_concurrency = values
    if concurrency is None:
        return None
    limit = Limit(
        job_type,
        int(concurrency),
        float(rate or 0),
        float(per or 1),
        int(burst or 0),
        int(group_concurrency or 0),
    )
    bucket = Bucket(float(tokens), float(at)) if tokens and at and limit.rate else None
    return limit, bucket


class RedisLimits:
    def __init__(self, client: Client, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._put = Script(client, "put_limit")
        self._claim = Script(client, "claim_limited")
        self._freed = Script(client, "freed")

    @translated
    async def limits(self) -> list[Limit]:
        return [limit for limit, _, _ in await self._read(with_running=False)]

    @translated
    async def grouped(self) -> frozenset[str]:
        return frozenset(str(t) for t in await self._client.smembers(self._keys.grouped))

    @translated
    async def put(self, limit: Limit, now: float) -> None:
        keys = [
            self._keys.limit(limit.job_type),
            self._keys.limits,
            self._keys.running(limit.job_type),
            self._keys.status(JobStatus.RUNNING),
            self._keys.running_grouped(limit.job_type),
        ]
        size = repr(limit.bucket_size) if limit.rate else ""
        args = [
            limit.job_type,
            limit.concurrency,
            repr(limit.rate),
            repr(limit.per),
            limit.burst,
            size,
            self._keys.job_prefix,
            limit.group_concurrency,
            self._keys.group_running(limit.job_type, ""),
        ]
        await self._put(keys=keys, args=args)

    @translated
    async def remove(self, job_type: str) -> bool:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.limit(job_type))
            pipe.srem(self._keys.limits, job_type)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    @translated
    async def usage(self, now: float) -> list[LimitUsage]:
        return [
            LimitUsage(limit, running, limit.tokens(bucket, now))
            for limit, bucket, running in await self._read(with_running=True)
        ]

    @translated
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
        types = list(dict.fromkeys(job_types))
        held, turns = set(limited), set(grouped)
        keys = claim_keys(self._keys, types, limits=True)
        flags = ["1" if job_type in held else "0" for job_type in types]
        flags += ["1" if job_type in turns else "0" for job_type in types]
        stems: list[str] = []
        for job_type in types:
            if job_type in turns:
                stems += [self._keys.group(job_type, p, "") for p in PRIORITIES]
                stems.append(self._keys.group_running(job_type, ""))
            else:
                stems += ["", "", "", ""]
        args = [*claim_args(self._keys, [worker_id] * limit, now, lease_seconds), *flags, *stems, *FIELDS]
        leased, retry = await self._claim(keys=keys, args=args)
        retry_at = {types[int(retry[i]) - 1]: float(retry[i + 1]) for i in range(0, len(retry), 2)}
        return LimitedClaim(leased_jobs(leased), retry_at)

    @translated
    async def freed(self, job_type: str, groups: Collection[str], now: float) -> None:
        if not groups:
            return
        keys = [
            self._keys.parked(job_type),
            *(self._keys.turns(job_type, p) for p in PRIORITIES),
            *(self._keys.served(job_type, p) for p in PRIORITIES),
        ]
        stems = [self._keys.group(job_type, p, "") for p in PRIORITIES]
        await self._freed(keys=keys, args=[*stems, *groups])

    async def _read(self, with_running: bool) -> list[tuple[Limit, Bucket | None, int]]:
        """Every limit by job type, with its bucket and (``with_running``) its type's
        running jobs (else 0), read in one pipeline."""
        types = sorted(str(t) for t in await self._client.smembers(self._keys.limits))
        if not types:
            return []
        pipe = self._client.pipeline(transaction=False)
        for job_type in types:
            pipe.hmget(self._keys.limit(job_type), STORED)
            if with_running:
                pipe.scard(self._keys.running(job_type))
        found: list[Any] = await pipe.execute()
        step = 2 if with_running else 1
        read = []
        for n, job_type in enumerate(types):
            stored = _stored(job_type, found[n * step])
            if stored is not None:  # removed since the set was read
                read.append((*stored, int(found[n * step + 1]) if with_running else 0))
        return read
