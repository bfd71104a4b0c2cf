"""The groups' turns as the job writes keep them (``stackduck_groups``, ADR 0029).

Every write that makes a grouped job queued (an insert, and a move written by
``apply.sql``: a retry, a release, a lease run out) writes its group's row in the same
transaction, after the job: ``queued.sql`` puts the group in the turns, or brings its
head forward. A claim then finds the group by its turn without reading any job of a
group whose turn has not come (claims: limits.py, ``queries/groups/``). Writes of
ungrouped jobs do none of this.

A type's first grouped job also marks the type (``mark.sql``, its group '' rows), once
per store and type, in a transaction of its own ahead of the jobs'."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from psycopg import AsyncConnection

from stackduck.adapters.postgres.queries import sql
from stackduck.domain.job import Job, JobStatus

#: (job type, priority, group) → the due time of its earliest job just queued.
Heads = dict[tuple[str, int, str], float]


def queued_heads(jobs: Iterable[Job]) -> Heads:
    """The groups the queued grouped jobs among ``jobs`` belong to, with their heads."""
    heads: Heads = {}
    for job in jobs:
        if job.group_key and job.status is JobStatus.QUEUED:
            key = (job.job_type, job.priority, job.group_key)
            at = heads.get(key)
            if at is None or job.run_at < at:
                heads[key] = job.run_at
    return heads


async def keep_heads(conn: AsyncConnection[Any], heads: Heads) -> None:
    """Put the groups in the turns (in the transaction of the job write, after it)."""
    if not heads:
        return
    keys = sorted(heads)
    params = {
        "job_types": [key[0] for key in keys],
        "priorities": [key[1] for key in keys],
        "groups": [key[2] for key in keys],
        "heads": [heads[key] for key in keys],
    }
    await conn.execute(sql("groups/queued"), params)


class GroupMarks:
    """Which types this store has marked as grouped (a mark is never removed)."""

    def __init__(self) -> None:
        self._marked: set[str] = set()

    async def mark(self, conn: AsyncConnection[Any], job_types: Collection[str]) -> None:
        """Mark the types not yet marked here, committed before the caller's transaction."""
        new = sorted(set(job_types) - self._marked)
        if not new:
            return
        await conn.execute(sql("groups/mark"), {"job_types": new})
        self._marked.update(new)
