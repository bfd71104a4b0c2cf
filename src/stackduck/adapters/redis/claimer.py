"""Claims on Redis alone: one script pops the best due entries and leases their
jobs, so a claim is one round trip and no job is ever leased twice."""

from __future__ import annotations

from collections.abc import Collection

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import translated
from stackduck.adapters.redis.fields import FIELDS, decode
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.lua import Script
from stackduck.domain.job import Job, JobStatus


class RedisClaimer:
    def __init__(self, client: Client, keys: Keys) -> None:
        self._keys = keys
        self._claim = Script(client, "claim")
        self._index_keys = [
            keys.status(JobStatus.QUEUED),
            keys.status(JobStatus.RUNNING),
            keys.leases,
            keys.due,
        ]

    @translated
    async def claim(
        self, worker_id: str, job_types: Collection[str], now: float, lease_seconds: float, limit: int
    ) -> list[Job]:
        keys = [*self._index_keys]
        for job_type in dict.fromkeys(job_types):  # once each: a script reads a set once
            keys.extend((self._keys.ready(job_type), self._keys.scheduled(job_type)))
        args: list[str | int] = [
            limit,
            repr(now),
            repr(lease_seconds),
            self._keys.job_prefix,
            worker_id,
            *FIELDS,
        ]
        flat = await self._claim(keys=keys, args=args)
        jobs = [decode(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        return sorted(jobs, key=lambda job: job.ready_key)
