"""The job store on PostgreSQL: the record of every job."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from functools import cache
from operator import attrgetter
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.groups import GroupMarks, keep_heads, queued_heads
from stackduck.adapters.postgres.queries import JobColumns, job_row, sql
from stackduck.application.ports import (
    LISTED_ATTEMPT_BYTES,
    LISTED_JOB_BYTES,
    Change,
    Completion,
    JobQuery,
    Order,
    Page,
    QueueEntry,
    TypeStats,
    due_place,
    page_cursor,
)
from stackduck.domain.errors import InvalidJob, quoted
from stackduck.domain.job import Job, JobStatus

NIL_ID = "00000000-0000-0000-0000-000000000000"
MAX_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
#: A listing's order by (ORDER BY, the condition that continues after a page's last job).
ORDERS = {
    Order.OLDEST: ("id", "id > %(after)s::uuid"),
    Order.NEWEST: ("id DESC", "id < %(after)s::uuid"),
    Order.DUE: (
        "run_at, id",
        "(%(after_at)s::float8 IS NULL OR (run_at, id) > (%(after_at)s::float8, %(after)s::uuid))",
    ),
}


def _filter(query: JobQuery) -> dict[str, Any]:
    """The parameters of _job_filter.sql for a query."""
    status = query.walked_status
    key, value = query.metadata if query.metadata is not None else (None, None)
    return {
        "status": status.value if status is not None else None,
        "job_type": query.job_type,
        "priority": query.priority,
        "group": query.group,
        "scheduled": query.scheduled,
        "now": query.now,
        "meta_key": key,
        "meta_value": value,
    }


@cache
def listing(order: Order) -> bytes:
    by, after = ORDERS[order]
    return sql("list_jobs").replace(b"{order}", by.encode()).replace(b"{after}", after.encode())


#: A job id exactly as Stackduck gives it out. Postgres' uuid type would also read
#: other spellings (upper case, braces, no hyphens) as the same job, and fail a whole
#: statement on ``urn:uuid:…``; ids are exact strings on every store.
#: start.sql leases each job to the worker its id names (ids are canonical: _is_id).
OWNER_BY_ID = "%(owners)s::jsonb ->> j.id::text"
_is_id = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch


def _value(job: Job, name: str) -> Any:
    value = getattr(job, name)
    if name == "status":
        return value.value
    return value


def _fields(job: Job, names: Sequence[str]) -> dict[str, Any]:
    return {name: _value(job, name) for name in names}


MUTABLE = (
    "status", "run_at", "updated_at", "retry_count", "attempt", "error_message", "started_at",
    "completed_at", "lease_owner", "lease_expires_at", "version", "result", "attempt_deadline",
    "attempts",
)  # fmt: skip
ALL_FIELDS = (
    "id", "job_type", "payload", "priority", "delay", "max_retries", *MUTABLE[:2], "created_at",
    *MUTABLE[2:11], "idempotency_key", "timeout", "metadata", *MUTABLE[11:], "group_key",
)  # fmt: skip


#: Up to this many new jobs are inserted by one statement (insert.sql), more by COPY.
SMALL_BATCH = 16
_STATUS_AT = ALL_FIELDS.index("status")
_ATTEMPTS_AT = ALL_FIELDS.index("attempts")
_ALL_VALUES = attrgetter(*ALL_FIELDS)


def _json_row(job: Job) -> dict[str, Any]:
    """The job as one object of an insert's JSON batch (insert.sql, insert_keyed.sql):
    every column by name (the attempts, tuples, become a JSON array of arrays: the
    table's form, below). Read with one C-level getter:
    1.3 µs a job less than a getattr per field."""
    row = list(_ALL_VALUES(job))
    row[_STATUS_AT] = job.status.value
    return dict(zip(ALL_FIELDS, row, strict=True))


def _row(job: Job) -> list[Any]:
    """The job's values in ALL_FIELDS order, as the table stores them: the attempts as
    the JSON text of an array of arrays, each an Attempt's fields in order."""
    row = list(_ALL_VALUES(job))
    row[_STATUS_AT] = job.status.value
    row[_ATTEMPTS_AT] = json.dumps(job.attempts) if job.attempts else "[]"  # nearly every new job
    return row


def _scope(job: Job) -> tuple[str, str]:
    """What an idempotency key is unique within: the job's type, and the key."""
    return job.job_type, job.idempotency_key


async def insert_keyed(conn: AsyncConnection[Any], jobs: Sequence[Job], key_seconds: float) -> list[str]:
    """Insert a batch with idempotency keys on ``conn`` (in the caller's transaction, if
    any): one statement, ``insert_keyed.sql``, which stores the batch and says who holds
    each key, then the turns of the grouped jobs it stored (groups.py; their types
    marked by the caller, before its transaction). Only the first job of the batch with
    each key is offered (a statement claims a row once); the later ones are its
    duplicates. Returns the holders as :meth:`JobStore.insert` does."""
    first: dict[tuple[str, str], Job] = {}
    for job in jobs:
        if job.idempotency_key:
            first.setdefault(_scope(job), job)
    offered = [job for job in jobs if not job.idempotency_key or first[_scope(job)] is job]
    params = {
        "jobs": json.dumps([_json_row(job) for job in offered]),
        "now": min(job.created_at for job in first.values()),
        "key_seconds": key_seconds,
    }
    cursor = await conn.execute(sql("insert_keyed"), params)
    holders = {(job_type, key): job_id for job_type, key, job_id in await cursor.fetchall()}
    answers = [holders[_scope(job)] if job.idempotency_key else job.id for job in jobs]
    await keep_heads(
        conn, queued_heads(job for job, holder in zip(jobs, answers, strict=True) if holder == job.id)
    )
    return answers


class PostgresJobStore:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self.marks = GroupMarks()  # shared with the schedules' fire step, which inserts too

    @translated
    async def insert(self, jobs: Sequence[Job], key_seconds: float = 0.0) -> list[str]:
        """One statement per batch, all rows or none: a small batch as one INSERT (one
        round trip, what a job's trip at low load waits for), a larger one by COPY (two
        round trips, but about 3x a multi-row INSERT at 1,000 rows). A batch with an
        idempotency key in it goes by ``insert_keyed.sql`` whatever its size. A batch
        with grouped jobs queued writes their groups' turns in the same transaction
        (groups.py)."""
        if not jobs:
            return []
        if any(job.group_key for job in jobs):
            return await self._insert_grouped(jobs, key_seconds)
        if any(job.idempotency_key for job in jobs):
            return await self._insert_keyed(jobs, key_seconds)
        async with self._pool.connection() as conn:
            await self._write(conn, jobs)
        return [job.id for job in jobs]

    async def _write(self, conn: AsyncConnection[Any], jobs: Sequence[Job]) -> None:
        """Insert a batch without idempotency keys."""
        if len(jobs) <= SMALL_BATCH:
            await conn.execute(sql("insert"), {"jobs": json.dumps([_json_row(job) for job in jobs])})
            return
        async with conn.cursor() as cursor, cursor.copy(sql("copy_in")) as copy:
            for job in jobs:
                await copy.write_row(_row(job))

    async def _insert_keyed(self, jobs: Sequence[Job], key_seconds: float) -> list[str]:
        async with self._pool.connection() as conn:
            return await insert_keyed(conn, jobs, key_seconds)

    async def _insert_grouped(self, jobs: Sequence[Job], key_seconds: float) -> list[str]:
        """The batch and its groups' turns in one transaction; only the jobs stored (a
        duplicate of a key is not) put their groups in the turns."""
        async with self._pool.connection() as conn:
            await self.marks.mark(conn, {job.job_type for job in jobs if job.group_key})
            async with conn.transaction():
                if any(job.idempotency_key for job in jobs):
                    return await insert_keyed(conn, jobs, key_seconds)
                await self._write(conn, jobs)
                await keep_heads(conn, queued_heads(jobs))
        return [job.id for job in jobs]

    @translated
    async def get(self, job_ids: Sequence[str]) -> dict[str, Job]:
        ids = [i for i in job_ids if _is_id(i)]
        if not ids:
            return {}
        async with self._pool.connection() as conn:
            cursor = await conn.cursor(row_factory=job_row).execute(sql("get"), {"ids": ",".join(ids)})
            jobs = {job.id: job for job in await cursor.fetchall()}
        return {i: jobs[i] for i in job_ids if i in jobs}

    @translated
    async def apply(self, changes: Sequence[Change]) -> list[bool]:
        """Compare-and-set writes. Where a change queues a grouped job, its group's turn
        is written in the same transaction (groups.py); the others write nothing more."""
        if not queued_heads(change.job for change in changes):
            async with self._pool.connection() as conn:
                return await self._apply(conn, changes)
        async with self._pool.connection() as conn, conn.transaction():
            written = await self._apply(conn, changes)
            await keep_heads(conn, queued_heads(c.job for c, ok in zip(changes, written, strict=True) if ok))
        return written

    async def _apply(self, conn: AsyncConnection[Any], changes: Sequence[Change]) -> list[bool]:
        written: dict[int, bool] = {}
        # A statement updates a row once: changes to the same job go in successive rounds.
        pending = list(enumerate(changes))
        while pending:
            seen: set[str] = set()
            round_: list[tuple[int, Change]] = []
            later: list[tuple[int, Change]] = []
            for slot, change in pending:
                (later if change.job.id in seen else round_).append((slot, change))
                seen.add(change.job.id)
            rows = [
                {"expected_version": change.expected_version, **_fields(change.job, ("id", *MUTABLE))}
                for _, change in round_
            ]
            cursor = await conn.execute(sql("apply"), {"changes": json.dumps(rows)})
            done = {row[0] for row in await cursor.fetchall()}
            for slot, change in round_:
                written[slot] = change.job.id in done
            pending = later
        return [written[slot] for slot in range(len(changes))]

    @translated
    async def start(self, owners: Mapping[str, str], now: float, lease_seconds: float) -> list[Job]:
        leases = {job_id: worker_id for job_id, worker_id in owners.items() if _is_id(job_id)}
        if not leases:
            return []
        params = {
            "ids": ",".join(leases),
            "owners": json.dumps(leases),
            "now": now,
            "lease_seconds": lease_seconds,
        }
        async with self._pool.connection() as conn:
            cursor: AsyncCursor[Job] = await conn.cursor(row_factory=job_row).execute(
                sql("start", OWNER_BY_ID), params
            )
            return await cursor.fetchall()

    @translated
    async def complete(self, completions: Sequence[Completion]) -> list[Job | None]:
        """One statement, no read: the domain's complete move where the lease matches."""
        rows = [
            {"id": c.job_id, "worker_id": c.worker_id, "token": c.token, "now": c.now, "result": c.result}
            for c in completions
            if _is_id(c.job_id)
        ]
        if not rows:
            return [None] * len(completions)
        async with self._pool.connection() as conn:
            cursor = await conn.cursor(row_factory=job_row).execute(
                sql("complete"), {"completions": json.dumps(rows)}
            )
            done = {job.id: job for job in await cursor.fetchall()}
        return [done.get(c.job_id) for c in completions]

    @translated
    async def expired_leases(self, now: float, limit: int) -> list[Job]:
        async with self._pool.connection() as conn:
            cursor: AsyncCursor[Job] = await conn.cursor(row_factory=job_row).execute(
                sql("expired_leases"), {"now": now, "limit": limit}
            )
            return await cursor.fetchall()

    @translated
    async def next_lease_deadline(self) -> float | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("next_lease_deadline"))
            row = await cursor.fetchone()
        return None if row is None else row[0]

    @translated
    async def runnable(self, limit: int, after: str) -> list[QueueEntry]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("runnable"), {"after": after or NIL_ID, "limit": limit})
            rows = await cursor.fetchall()
        return [QueueEntry(*row) for row in rows]

    @translated
    async def list_jobs(self, query: JobQuery, limit: int, cursor: str, max_bytes: int) -> Page:
        after_at: float | None = None
        after = cursor
        if query.order is Order.DUE and cursor:
            after_at, after = due_place(cursor)
        if cursor and not _is_id(after):
            raise InvalidJob(f"page_token {quoted(cursor)} is not one this server handed out")
        params = {
            **_filter(query),
            "after_at": after_at,
            "after": after or (MAX_ID if query.order is Order.NEWEST else NIL_ID),
            "limit": limit,
            "max_bytes": max_bytes,
            "job_bytes": LISTED_JOB_BYTES,
            "attempt_bytes": LISTED_ATTEMPT_BYTES,
        }
        async with self._pool.connection() as conn:
            found = await conn.execute(listing(query.order), params)
            rows = await found.fetchall()
            columns = JobColumns(found)
        kept = columns.at("kept")  # false on the row past the page, whose job columns are empty
        jobs = [columns.job(row) for row in rows if row[kept]]
        if len(jobs) == len(rows) or not jobs:
            return Page(jobs, "")
        return Page(jobs, page_cursor(query.order, jobs[-1]))

    @translated
    async def count_jobs(self, query: JobQuery) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("count_jobs"), _filter(query))
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

    @translated
    async def count(self, now: float) -> dict[str, int]:
        counts = {state: 0 for state in [*(s.value for s in JobStatus), "scheduled"]}
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("count"), {"now": now})
            for state, number in await cursor.fetchall():
                counts[state] = number
        return counts

    @translated
    async def stats(self, now: float, since: float) -> list[TypeStats]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("stats"), {"now": now, "since": since})
            rows = await cursor.fetchall()
        return [
            TypeStats(
                job_type=job_type,
                ready_by_priority=(ready_1, ready_2, ready_3),
                scheduled=scheduled,
                running=running,
                dead=dead,
                completed_recently=completed,
                dead_recently=died,
                oldest_ready_at=oldest,
            )
            # stats.sql's columns, in its order
            for job_type, ready_1, ready_2, ready_3, scheduled, running, dead, completed, died, oldest in rows
        ]

    @translated
    async def delete(
        self, job_ids: Sequence[str], statuses: Collection[JobStatus], finished_before: float | None = None
    ) -> int:
        ids = [i for i in job_ids if _is_id(i)]
        if not ids:
            return 0
        params = {"ids": ",".join(ids), "statuses": [s.value for s in statuses], "before": finished_before}
        return await self._count(sql("delete"), params)

    @translated
    async def prune(self, statuses: Collection[JobStatus], finished_before: float, limit: int) -> int:
        params = {"statuses": [s.value for s in statuses], "before": finished_before, "limit": limit}
        return await self._count(sql("prune"), params)

    async def _count(self, statement: bytes, params: dict[str, Any]) -> int:
        """Run a statement that answers one count."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(statement, params)
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

    @translated
    async def free_keys(self, now: float, limit: int) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("free_keys"), {"now": now, "limit": limit})
            return int(cursor.rowcount)
