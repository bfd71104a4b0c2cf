"""Queued jobs by due time on Redis alone, read from each job type's own sorted sets.

A type's queued jobs are in its ready set (due; score priority · 10¹³ + due time in ms),
its scheduled set (for later; score the due time in seconds, member "priority|id") or
its set of queued grouped jobs (scored as the ready set), one entry each. A listing by
due time merges those sets over the types asked: per set, per priority, the next ``k``
entries from the cursor on. Entries beyond the first set that came back full may be
missing, so only those before it are listed; if none are, ``k`` doubles (many jobs due
in the same millisecond). The order is (due time in ms, id); the cursor says where a
page ended in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.queue import PRIORITY_FACTOR
from stackduck.application.ports import JobQuery
from stackduck.domain.errors import InvalidJob, quoted

#: Entries asked of each set at first.
FIRST_TAKE = 64

#: (due time in ms, job id)
Place = tuple[int, str]


async def due_chunks(
    client: Client, keys: Keys, query: JobQuery, cursor: str
) -> AsyncIterator[list[tuple[str, str]]]:
    """(job id, cursor after it) a chunk at a time, by due time, from ``cursor`` on."""
    after = _place(cursor)
    if query.job_type is not None:
        types = [query.job_type]
    else:
        types = sorted(str(t) for t in await client.smembers(keys.types))
    priorities = [query.priority] if query.priority is not None else [1, 2, 3]
    take = FIRST_TAKE
    while True:
        places, bound = await _next(client, keys, types, priorities, after, take)
        if places:
            yield [(job_id, f"{at}/{job_id}") for at, job_id in places]
            after = places[-1]
        elif bound is None:
            return
        else:
            take *= 2


async def _next(
    client: Client, keys: Keys, types: list[str], priorities: list[int], after: Place | None, take: int
) -> tuple[list[Place], int | None]:
    """The places after ``after`` known complete, sorted; and the due time from which the
    sets were not read to the end (None: every set was)."""
    since = after[0] if after is not None else 0
    pipe = client.pipeline(transaction=False)
    bases: list[int | None] = []  # per call: the priority's base score, or None: the scheduled set
    for job_type in types:
        for key in (keys.ready(job_type), keys.grouped_queued(job_type)):
            for priority in priorities:
                base = priority * PRIORITY_FACTOR
                pipe.zrangebyscore(key, base + since, base + PRIORITY_FACTOR - 1, 0, take, withscores=True)
                bases.append(base)
        pipe.zrangebyscore(keys.scheduled(job_type), since / 1000 - 0.001, "+inf", 0, take, withscores=True)
        bases.append(None)
    found: dict[str, int] = {}
    bound: int | None = None
    for offset, entries in zip(bases, await pipe.execute(), strict=True):
        last = None
        for member, score in entries:
            at, job_id = _entry(member, score, offset, priorities)
            last = at
            if job_id is not None:
                found[job_id] = min(at, found.get(job_id, at))
        if len(entries) == take and last is not None:
            bound = last if bound is None else min(bound, last)
    places = sorted(
        (at, job_id)
        for job_id, at in found.items()
        if (bound is None or at < bound) and (after is None or (at, job_id) > after)
    )
    return places, bound


def _entry(member: Any, score: float, base: int | None, priorities: list[int]) -> tuple[int, str | None]:
    """An entry's due time in ms, and its job id (None: of a priority not asked for)."""
    if base is not None:
        return int(score) - base, str(member)
    priority, _, job_id = str(member).partition("|")
    return int(score * 1000), job_id if priority.isdigit() and int(priority) in priorities else None


def _place(cursor: str) -> Place | None:
    if not cursor:
        return None
    at, _, job_id = cursor.partition("/")
    if not at.isdigit() or not job_id:
        raise InvalidJob(f"page_token {quoted(cursor)} is not one this server handed out")
    return int(at), job_id
