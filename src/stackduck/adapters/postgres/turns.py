"""A grouped claim on PostgreSQL: the groups of a type take turns (ADR 0029), within the
limited claim's transaction (limits.py), after its limits are locked and its running
counts read.

The model, per (job type, priority): each group with queued jobs has a turn time, the
later of when a claim last took one of its jobs (served) and the due time of its
earliest queued job of that priority (head). A claim takes the groups whose turn has
come (≤ now), earliest turn first, one job each (the group's earliest due job: run_at,
then id), and goes round again while it wants more and groups have due jobs; priority 1
before 2 before 3, whatever the turns. The groups a claim serves get served times in the
order it served them, :data:`SERVED_STEP` apart, the last one the claim's now, so the next
claim keeps the rotation (ending at now rather than starting there, so that none is out
of the turns for a claim at that same time). A group with no queued job of that priority
left leaves the turns (its row deleted); a job queued again puts it back (groups.py), so a group with
only later jobs has its turn come at their due time: the claim never reads a group
whose turn has not come, and its cost does not grow with the number of groups waiting.

The ungrouped jobs of a grouped type are the group '': its row keeps when it was served
(and parked), its head is the ready index's earliest job. Across the types of one claim,
per priority, the types' lanes (one per group, and one per priority for each ungrouped
type asked beside grouped ones, whose turn is its earliest due job) are merged by round,
then turn time.

group_concurrency: a group with that many jobs running (counted in this transaction,
under the limit's lock, so no two instances pass it) is passed over and parked, its turn
pushed to now + :data:`PARK_SECONDS`, until :meth:`PostgresLimits.freed` brings it back
(or that safety net passes, if the word is lost). A group the claim fills is parked
with it, saving the next claim a visit.

Statements: ``groups/lock.sql`` locks the groups whose turn has come (SKIP LOCKED: two
claims never take turns from one group at once), ``groups/claim.sql`` reads their heads
round by round and leases, ``groups/turns.sql`` writes served, head and parked back, or
deletes the emptied groups.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from stackduck.adapters.postgres.queries import JobColumns, sql
from stackduck.domain.job import Job
from stackduck.domain.limits import PARK_SECONDS, SERVED_STEP, Limit

PRIORITIES = (1, 2, 3)

Key = tuple[str, int, str]  # (job type, priority, group)


@dataclass(frozen=True, slots=True)
class Lane:
    """One group of a type at one priority, as a claim reads it."""

    key: Key
    turn_at: float  # for a group '': when it was served (the claim adds its head)
    room: int  # how many of its jobs may start (its group_concurrency's room)


@dataclass
class TurnsTaken:
    """The jobs a grouped claim leased, in the order it took them, and how many groups it
    held locked without taking from them (other claims skipped them meanwhile)."""

    jobs: list[Job]
    passed_over: int


async def take_turns(
    conn: AsyncConnection[Any],
    worker_id: str,
    job_types: Sequence[str],
    grouped: Collection[str],
    caps: Mapping[str, int],
    limits: Mapping[str, Limit],
    running: Mapping[str, Mapping[str, int]],
    now: float,
    lease_seconds: float,
    limit: int,
) -> TurnsTaken:
    """Lease up to ``limit`` jobs of ``job_types`` to the worker, the types in ``grouped``
    in turns, no more of a type than ``caps`` says; ``limits`` and ``running`` (per type,
    per group) decide each group's room under its group_concurrency."""
    open_types = [t for t in job_types if caps[t] > 0]
    turn_types = [t for t in open_types if t in grouped]
    if not open_types:
        return TurnsTaken([], 0)
    rows: list[Any] = []
    if turn_types:
        cursor = await conn.execute(
            sql("groups/lock"), {"job_types": turn_types, "caps": [caps[t] for t in turn_types], "now": now}
        )
        rows = await cursor.fetchall()
    # Where each row this claim holds is: the named groups locked, and the groups '' it
    # could lock (None: one the type lacks, written only if served or parked).
    held: dict[Key, str | None] = {}
    ungrouped: dict[tuple[str, int], tuple[float, float]] = {}
    for job_type, priority, group, _, served_at, parked_until, ctid in rows:
        if group or ctid is not None:
            held[job_type, priority, group] = ctid
        if not group and ctid is not None:
            ungrouped[job_type, priority] = (served_at, parked_until)
    present = {(job_type, priority) for job_type, priority, group, *_ in rows if not group}

    def room(job_type: str, group: str, started: int = 0) -> int:
        """How many more of the group's jobs may start, with ``started`` just leased."""
        lim = limits.get(job_type)
        count = running.get(job_type, {}).get(group, 0) + started
        return limit if lim is None else lim.group_allowance(count, limit)

    lanes: list[Lane] = []
    parked: dict[Key, float] = {}
    for job_type, priority, group, turn_at, *_ in rows:
        if group:
            lanes.append(Lane((job_type, priority, group), turn_at, room(job_type, group)))
    for job_type in open_types:
        for priority in PRIORITIES:
            if (job_type, priority) in present and (job_type, priority) not in ungrouped:
                continue  # its group '' is another claim's now
            served_at, parked_until = ungrouped.get((job_type, priority), (0.0, 0.0))
            if parked_until <= now:
                lanes.append(Lane((job_type, priority, ""), served_at, room(job_type, "")))
    for lane in lanes:
        if lane.room <= 0:
            parked[lane.key] = now + PARK_SECONDS
    lanes = [lane for lane in lanes if lane.room > 0]

    jobs = await _lease(conn, worker_id, lanes, caps, now, lease_seconds, limit) if lanes else []

    order: dict[Key, int] = {}
    taken: dict[tuple[str, str], int] = {}
    for job in jobs:  # in the order taken
        order.setdefault((job.job_type, job.priority, job.group_key), len(order))
        taken[job.job_type, job.group_key] = taken.get((job.job_type, job.group_key), 0) + 1
    served = {key: now - (len(order) - 1 - n) * SERVED_STEP for key, n in order.items()}
    for lane in lanes:
        job_type, _, group = lane.key
        if (job_type, group) in taken and room(job_type, group, taken[job_type, group]) <= 0:
            parked[lane.key] = now + PARK_SECONDS  # full now: the next claim need not look
    await _write_turns(conn, held, turn_types, served, parked)
    passed_over = sum(1 for key in held if key[2] and key not in served and key not in parked)
    return TurnsTaken(jobs, passed_over)


async def _lease(
    conn: AsyncConnection[Any],
    worker_id: str,
    lanes: list[Lane],
    caps: Mapping[str, int],
    now: float,
    lease_seconds: float,
    limit: int,
) -> list[Job]:
    """``groups/claim.sql`` over the lanes. A lane reads no more jobs than it could get:
    its n-th job goes in round n, after the first job of every other group whose turn has
    come at its priority (nearly every locked group has one), so it reads at most
    ``limit`` less those others (at least one)."""
    named: dict[int, int] = {}
    for lane in lanes:
        if lane.key[2]:
            named[lane.key[1]] = named.get(lane.key[1], 0) + 1

    def reads(lane: Lane) -> int:
        job_type, priority, group = lane.key
        others = named.get(priority, 0) - (1 if group else 0)
        return min(lane.room, caps[job_type], max(1, limit - others))

    params = {
        "job_types": [lane.key[0] for lane in lanes],
        "priorities": [lane.key[1] for lane in lanes],
        "groups": [lane.key[2] for lane in lanes],
        "turns": [lane.turn_at for lane in lanes],
        "reads": [reads(lane) for lane in lanes],
        "rooms": [lane.room for lane in lanes],
        "caps": [caps[lane.key[0]] for lane in lanes],
        "now": now,
        "limit": limit,
        "worker_id": worker_id,
        "lease_seconds": lease_seconds,
    }
    cursor = await conn.execute(sql("groups/claim"), params)
    rows = await cursor.fetchall()
    columns = JobColumns(cursor)
    order = columns.at("claim_order")
    return [columns.job(row) for row in sorted(rows, key=lambda row: row[order])]


async def _write_turns(
    conn: AsyncConnection[Any],
    held: Mapping[Key, str | None],
    turn_types: Collection[str],
    served: Mapping[Key, float],
    parked: Mapping[Key, float],
) -> None:
    """``groups/turns.sql``: every named group locked (``held``: where its row is), and
    each group '' of a type in turns that was served or parked."""
    written = (key for key in (*served, *parked) if not key[2] and key[0] in turn_types)
    keys = sorted({*(key for key in held if key[2]), *written})
    if not keys:
        return
    params = {
        "job_types": [key[0] for key in keys],
        "priorities": [key[1] for key in keys],
        "groups": [key[2] for key in keys],
        "ctids": [held.get(key) for key in keys],
        "served": [served.get(key) for key in keys],
        "parked": [parked.get(key) for key in keys],
    }
    await conn.execute(sql("groups/turns"), params)
