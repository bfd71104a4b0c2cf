"""Claims on Redis alone: one script pops the best due entries and leases their
jobs, so a claim is one round trip and no job is ever leased twice."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import translated
from stackduck.adapters.redis.fields import FIELDS, decode
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.lua import Script
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.priority import PRIORITIES


def claim_keys(keys: Keys, job_types: Collection[str], limits: bool = False) -> list[str]:
    """The KEYS of claim.lua (of claim_limited.lua with ``limits``): the indexes a lease
    changes, then per job type, once each (a script reads a set once), its ready,
    scheduled and running sets (and its limit hash and the keys of its groups' turns)."""
    found = [keys.status(JobStatus.QUEUED), keys.status(JobStatus.RUNNING), keys.leases, keys.due]
    for job_type in job_types:
        found.extend((keys.ready(job_type), keys.scheduled(job_type), keys.running(job_type)))
        if limits:
            found.extend(
                (
                    keys.limit(job_type),
                    keys.running_grouped(job_type),
                    keys.parked(job_type),
                    keys.waking(job_type),
                    *(keys.turns(job_type, p) for p in PRIORITIES),
                    *(keys.served(job_type, p) for p in PRIORITIES),
                    keys.grouped_queued(job_type),
                )
            )
    return found


def claim_args(keys: Keys, owners: Sequence[str], now: float, lease_seconds: float) -> list[Any]:
    """The arguments both claim scripts start with (the field names come last): a job for
    each owner listed, at most, the best to the first."""
    return [len(owners), repr(now), repr(lease_seconds), keys.job_prefix, json.dumps(owners)]


def leased_jobs(flat: Sequence[Any]) -> list[Job]:
    """The jobs a claim script leased (flat: an id, then its values in ``FIELDS`` order),
    in queue order."""
    jobs = [decode(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    return sorted(jobs, key=lambda job: job.ready_key)


class RedisClaimer:
    def __init__(self, client: Client, keys: Keys) -> None:
        self._keys = keys
        self._claim = Script(client, "claim")

    @translated
    async def claim(
        self, owners: Sequence[str], job_types: Collection[str], now: float, lease_seconds: float
    ) -> list[Job]:
        keys = claim_keys(self._keys, dict.fromkeys(job_types))
        args = [*claim_args(self._keys, owners, now, lease_seconds), *FIELDS]
        return leased_jobs(await self._claim(keys=keys, args=args))
