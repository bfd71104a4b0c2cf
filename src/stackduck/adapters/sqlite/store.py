"""The job store in a SQLite file: the record of the SQLite configuration.

Writes go through ``Database.write`` (one writer, group commit), reads through
``Database.read`` (reader connections). The moves a job makes are the domain's, read and
written back with compare-and-set (``apply``), as in the memory store. The two a job
makes on every trip go in one write each, with no read on a reader connection first: a
start is one statement (``START``, the domain's ``Job.start`` in SQL, as PostgreSQL's
``_lease.sql``), a completion the domain's move made on the row as the writer reads it.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from stackduck.adapters.sqlite.database import Database
from stackduck.adapters.stats_tally import Counts
from stackduck.application.moves import log_state
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
from stackduck.domain.errors import InvalidJob, StackduckError, quoted
from stackduck.domain.job import STATUS_OF, Attempt, Job, JobStatus

COLUMNS = (
    "id", "job_type", "payload", "priority", "delay", "max_retries", "status", "run_at",
    "created_at", "updated_at", "retry_count", "attempt", "error_message", "started_at",
    "completed_at", "lease_owner", "lease_expires_at", "version", "idempotency_key", "timeout",
    "metadata", "result", "attempt_deadline", "attempts", "group_key",
)  # fmt: skip
SELECT = f"SELECT {', '.join(COLUMNS)} FROM stackduck_jobs"
INSERT = f"INSERT INTO stackduck_jobs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
UPDATE = (
    f"UPDATE stackduck_jobs SET {', '.join(f'{c} = ?' for c in COLUMNS[1:])} WHERE id = ? AND version = ?"
)
STATUS_OF_ID = "SELECT status FROM stackduck_jobs WHERE id = ?"
#: Mirrors ``Job.start``: lease a job still queued and due to its owner (attempt + 1, the
#: attempt's deadline where it has a timeout, the lease cut at it, started, touched).
START = (
    "UPDATE stackduck_jobs SET status = 'running', attempt = attempt + 1, lease_owner = :owner, "
    "attempt_deadline = CASE WHEN timeout > 0 THEN :now + timeout END, "
    "lease_expires_at = CASE WHEN timeout > 0 THEN min(:now + :lease, :now + timeout) "
    "ELSE :now + :lease END, "
    "started_at = :now, updated_at = :now, version = version + 1 "
    f"WHERE id = :id AND status = 'queued' AND run_at <= :now RETURNING {', '.join(COLUMNS)}"
)
#: A listing reads its candidates' sizes first, a chunk at a time, and only the kept jobs whole.
LIST_CHUNK = 500
#: Ids in one statement at most (SQLite's limit on parameters is 32,766).
ID_CHUNK = 500
ORDERS = {
    Order.OLDEST: ("id", "id > ?"),
    Order.NEWEST: ("id DESC", "id < ?"),
    Order.DUE: ("run_at, id", "(run_at, id) > (?, ?)"),
}
FINISHED = ("completed", "failed", "cancelled")


def attempts_text(attempts: tuple[Attempt, ...]) -> str:
    """The ended attempts as a JSON array ("" for none)."""
    return json.dumps([a.as_dict() for a in attempts], separators=(",", ":")) if attempts else ""


def attempts_of(text: str) -> tuple[Attempt, ...]:
    return tuple(Attempt.from_dict(a) for a in json.loads(text)) if text else ()


def row(job: Job) -> tuple[Any, ...]:
    """The job's values in ``COLUMNS`` order."""
    return (
        job.id, job.job_type, job.payload, job.priority, job.delay, job.max_retries, job.status.value,
        job.run_at, job.created_at, job.updated_at, job.retry_count, job.attempt, job.error_message,
        job.started_at, job.completed_at, job.lease_owner, job.lease_expires_at, job.version,
        job.idempotency_key, job.timeout, job.metadata, job.result, job.attempt_deadline,
        attempts_text(job.attempts), job.group_key,
    )  # fmt: skip


def job_of(values: Sequence[Any]) -> Job:
    """A job from its row, in ``COLUMNS`` order (tests/unit/adapters hold the order)."""
    (
        job_id, job_type, payload, priority, delay, max_retries, status, run_at, created_at,
        updated_at, retry_count, attempt, error_message, started_at, completed_at, lease_owner,
        lease_expires_at, version, idempotency_key, timeout, metadata, result, attempt_deadline,
        attempts, group_key,
    ) = values  # fmt: skip
    return Job(
        id=job_id, job_type=job_type, payload=payload, priority=priority, delay=delay,
        max_retries=max_retries, status=STATUS_OF[status], run_at=run_at, created_at=created_at,
        updated_at=updated_at, retry_count=retry_count, attempt=attempt, error_message=error_message,
        started_at=started_at, completed_at=completed_at, lease_owner=lease_owner,
        lease_expires_at=lease_expires_at, version=version, idempotency_key=idempotency_key,
        timeout=timeout, metadata=metadata, result=result, attempt_deadline=attempt_deadline,
        attempts=attempts_of(attempts), group_key=group_key,
    )  # fmt: skip


class SqliteJobStore:
    def __init__(self, database: Database) -> None:
        self._db = database
        # Running jobs per type and per (type, group), kept as the writes commit: what
        # limits count without a read (one process owns the file: nothing else moves them).
        self._running: Counter[str] = Counter()
        self._running_groups: Counter[tuple[str, str]] = Counter()

    async def insert(self, jobs: Sequence[Job], key_seconds: float = 0.0) -> list[str]:
        try:
            holders = await self._db.write(lambda conn: insert_jobs(conn, jobs, key_seconds))
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"a job in the batch already exists: {exc}") from None
        self.inserted(jobs, holders)
        return holders

    def inserted(self, jobs: Sequence[Job], holders: Sequence[str]) -> None:
        """Count the running jobs among those just committed (a hand-off inserts some)."""
        for job, holder in zip(jobs, holders, strict=True):
            if holder == job.id and job.status is JobStatus.RUNNING:
                self._count(job.job_type, job.group_key, 1)

    async def load_counts(self) -> None:
        """The running jobs per type and group, as the record has them (at start)."""
        statement = (
            "SELECT job_type, group_key, count(*) FROM stackduck_jobs WHERE status = 'running' "
            "GROUP BY job_type, group_key"
        )
        self._running.clear()
        self._running_groups.clear()
        for job_type, group, n in await self._db.read(lambda conn: conn.execute(statement).fetchall()):
            self._count(job_type, group, n)

    def running(self, job_type: str) -> int:
        """How many jobs of the type are running (what a concurrency limit counts)."""
        return self._running[job_type]

    def running_in_group(self, job_type: str, group: str) -> int:
        """How many jobs of the type's group are running."""
        return self._running_groups[(job_type, group)]

    def _count(self, job_type: str, group: str, n: int) -> None:
        self._running[job_type] += n
        self._running_groups[(job_type, group)] += n

    async def get(self, job_ids: Sequence[str]) -> dict[str, Job]:
        wanted = list(dict.fromkeys(job_ids))

        def read(conn: sqlite3.Connection) -> dict[str, Job]:
            found: dict[str, Job] = {}
            for start in range(0, len(wanted), ID_CHUNK):
                chunk = wanted[start : start + ID_CHUNK]
                marks = ", ".join("?" * len(chunk))
                for values in conn.execute(f"{SELECT} WHERE id IN ({marks})", chunk):
                    found[values[0]] = job_of(values)
            return found

        return await self._db.read(read) if wanted else {}

    async def apply(self, changes: Sequence[Change]) -> list[bool]:
        values = [(*row(c.job)[1:], c.job.id, c.expected_version) for c in changes]

        def write(conn: sqlite3.Connection) -> list[tuple[bool, bool]]:
            """Per change: written, and whether the job was running before."""
            outcomes = []
            for change, one in zip(changes, values, strict=True):
                before = conn.execute(
                    "SELECT status FROM stackduck_jobs WHERE id = ?", (change.job.id,)
                ).fetchone()
                written = conn.execute(UPDATE, one).rowcount == 1
                outcomes.append((written, before is not None and before[0] == "running"))
            return outcomes

        if not changes:
            return []
        outcomes = await self._db.write(write)
        for change, (written, was_running) in zip(changes, outcomes, strict=True):
            now_running = change.job.status is JobStatus.RUNNING
            if written and was_running != now_running:
                self._count(change.job.job_type, change.job.group_key, 1 if now_running else -1)
        return [written for written, _ in outcomes]

    async def start(self, owners: Mapping[str, str], now: float, lease_seconds: float) -> list[Job]:
        """One write, a statement a job: those still queued and due start."""
        params = [{"id": i, "owner": w, "now": now, "lease": lease_seconds} for i, w in owners.items()]

        def write(conn: sqlite3.Connection) -> list[Job]:
            rows = (conn.execute(START, one).fetchone() for one in params)
            return [job_of(found) for found in rows if found is not None]

        started = await self._db.write(write) if params else []
        for job in started:
            self._count(job.job_type, job.group_key, 1)
        return started

    async def complete(self, completions: Sequence[Completion]) -> list[Job | None]:
        """One write: each job read by the writer, completed by the domain's move where
        its lease matches, written back; None where it is gone or the move refused."""

        def write(conn: sqlite3.Connection) -> list[Job | None]:
            done: list[Job | None] = []
            for c in completions:
                found = conn.execute(f"{SELECT} WHERE id = ?", (c.job_id,)).fetchone()
                job = None if found is None else job_of(found)
                if job is not None:
                    version = job.version
                    try:
                        job.complete(worker_id=c.worker_id, token=c.token, now=c.now, result=c.result)
                    except StackduckError:
                        job = None
                    else:
                        conn.execute(UPDATE, (*row(job)[1:], job.id, version))
                done.append(job)
            return done

        done = await self._db.write(write) if completions else []
        for job in done:
            if job is not None:
                self._count(job.job_type, job.group_key, -1)  # a completion ends a running job
                log_state(job)
        return done

    async def expired_leases(self, now: float, limit: int) -> list[Job]:
        statement = (
            f"{SELECT} WHERE status = 'running' AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?"
        )
        return await self._db.read(lambda conn: [job_of(v) for v in conn.execute(statement, (now, limit))])

    async def next_lease_deadline(self) -> float | None:
        statement = "SELECT min(lease_expires_at) FROM stackduck_jobs WHERE status = 'running'"
        found = await self._db.read(lambda conn: conn.execute(statement).fetchone())
        return None if found is None else found[0]

    async def runnable(self, limit: int, after: str) -> list[QueueEntry]:
        statement = (
            "SELECT id, job_type, priority, run_at, group_key FROM stackduck_jobs "
            "WHERE status = 'queued' AND id > ? ORDER BY id LIMIT ?"
        )
        rows = await self._db.read(lambda conn: conn.execute(statement, (after, limit)).fetchall())
        return [QueueEntry(*values) for values in rows]

    async def list_jobs(self, query: JobQuery, limit: int, cursor: str, max_bytes: int) -> Page:
        by, after_sql = ORDERS[query.order]
        where, params = _where(query)
        after: tuple[Any, ...] = ()
        if cursor:
            after = _after(query.order, cursor)
            where, params = f"{where} AND {after_sql}", [*params, *after]
        sizes = (
            f"SELECT id, length(CAST(payload AS BLOB)) + length(CAST(error_message AS BLOB)) "
            f"+ length(CAST(job_type AS BLOB)) + coalesce(length(CAST(lease_owner AS BLOB)), 0) "
            f"+ length(CAST(metadata AS BLOB)) + coalesce(length(CAST(result AS BLOB)), 0), attempts "
            f"FROM stackduck_jobs WHERE {where} ORDER BY {by} LIMIT ?"
        )

        def read(conn: sqlite3.Connection) -> Page:
            kept: list[str] = []
            used, more = 0, False
            for values in conn.execute(sizes, (*params, limit + 1)):
                job_id, size, attempts = values
                size += LISTED_JOB_BYTES + _attempt_bytes(attempts)
                if len(kept) == limit or (kept and used + size > max_bytes):
                    more = True
                    break
                kept.append(job_id)
                used += size
            found: dict[str, Job] = {}
            for start in range(0, len(kept), ID_CHUNK):
                chunk = kept[start : start + ID_CHUNK]
                marks = ", ".join("?" * len(chunk))
                found.update(
                    (v[0], job_of(v)) for v in conn.execute(f"{SELECT} WHERE id IN ({marks})", chunk)
                )
            jobs = [found[i] for i in kept if i in found]
            return Page(jobs, page_cursor(query.order, jobs[-1]) if more and jobs else "")

        return await self._db.read(read)

    async def count_jobs(self, query: JobQuery) -> int:
        where, params = _where(query)
        statement = f"SELECT count(*) FROM stackduck_jobs WHERE {where}"
        found = await self._db.read(lambda conn: conn.execute(statement, params).fetchone())
        return int(found[0])

    async def count(self, now: float) -> dict[str, int]:
        def read(conn: sqlite3.Connection) -> dict[str, int]:
            counts = {state: 0 for state in [*(s.value for s in JobStatus), "scheduled"]}
            for state, number in conn.execute("SELECT status, count(*) FROM stackduck_jobs GROUP BY status"):
                counts[state] = number
            [scheduled] = conn.execute(
                "SELECT count(*) FROM stackduck_jobs WHERE status = 'queued' AND run_at > ?", (now,)
            ).fetchone()
            counts["queued"] -= scheduled
            counts["scheduled"] = scheduled
            return counts

        return await self._db.read(read)

    async def stats(self, now: float, since: float) -> list[TypeStats]:
        statement = """
            SELECT job_type,
                   count(*) FILTER (WHERE status = 'queued' AND run_at <= :now AND priority = 1),
                   count(*) FILTER (WHERE status = 'queued' AND run_at <= :now AND priority = 2),
                   count(*) FILTER (WHERE status = 'queued' AND run_at <= :now AND priority = 3),
                   count(*) FILTER (WHERE status = 'queued' AND run_at > :now),
                   count(*) FILTER (WHERE status = 'running'),
                   count(*) FILTER (WHERE status = 'failed'),
                   count(*) FILTER (WHERE status = 'completed' AND completed_at > :since),
                   count(*) FILTER (WHERE status = 'failed' AND completed_at > :since),
                   min(run_at) FILTER (WHERE status = 'queued' AND run_at <= :now)
            FROM stackduck_jobs GROUP BY job_type ORDER BY job_type
        """
        rows = await self._db.read(
            lambda conn: conn.execute(statement, {"now": now, "since": since}).fetchall()
        )
        return [
            Counts([r1, r2, r3], scheduled, running, dead, done, died, oldest).stats(job_type)
            for job_type, r1, r2, r3, scheduled, running, dead, done, died, oldest in rows
        ]

    async def delete(
        self, job_ids: Sequence[str], statuses: Collection[JobStatus], finished_before: float | None = None
    ) -> int:
        ids = list(dict.fromkeys(job_ids))
        states = [s.value for s in statuses]
        if not ids or not states:
            return 0
        deleted, running = await self._db.write(lambda conn: _delete(conn, ids, states, finished_before))
        for job_type, group in running:
            self._count(job_type, group, -1)
        return deleted

    async def prune(self, statuses: Collection[JobStatus], finished_before: float, limit: int) -> int:
        states = [s.value for s in statuses]

        def write(conn: sqlite3.Connection) -> tuple[int, list[tuple[str, str]]]:
            marks = ", ".join("?" * len(states))
            ids = [
                found
                for (found,) in conn.execute(
                    f"SELECT id FROM stackduck_jobs WHERE status IN ({marks}) AND completed_at < ? "
                    "ORDER BY completed_at LIMIT ?",
                    (*states, finished_before, limit),
                )
            ]
            return _delete(conn, ids, states, finished_before)

        if not states:
            return 0
        deleted, running = await self._db.write(write)
        for job_type, group in running:
            self._count(job_type, group, -1)
        return deleted

    async def free_keys(self, now: float, limit: int) -> int:
        statement = (
            "DELETE FROM stackduck_idempotency WHERE (job_type, key) IN (SELECT job_type, key "
            "FROM stackduck_idempotency WHERE NOT job_kept AND reserved_until < ? LIMIT ?)"
        )
        return await self._db.write(lambda conn: conn.execute(statement, (now, limit)).rowcount)


def insert_jobs(conn: sqlite3.Connection, jobs: Sequence[Job], key_seconds: float) -> list[str]:
    """Insert the jobs; one whose idempotency key is held (by a job kept, or within its
    window) is not inserted, and the holder's id is its answer."""
    holders: list[str] = []
    for job in jobs:
        if job.idempotency_key:
            held = conn.execute(
                "SELECT job_id, reserved_until, job_kept FROM stackduck_idempotency "
                "WHERE job_type = ? AND key = ?",
                (job.job_type, job.idempotency_key),
            ).fetchone()
            if held is not None and (held[2] or job.created_at <= held[1]):
                holders.append(held[0])
                continue
            conn.execute(
                "INSERT INTO stackduck_idempotency (job_type, key, job_id, reserved_until, job_kept) "
                "VALUES (?, ?, ?, ?, 1) ON CONFLICT (job_type, key) DO UPDATE SET "
                "job_id = excluded.job_id, reserved_until = excluded.reserved_until, job_kept = 1",
                (job.job_type, job.idempotency_key, job.id, job.created_at + key_seconds),
            )
        conn.execute(INSERT, row(job))
        holders.append(job.id)
    return holders


def _delete(
    conn: sqlite3.Connection, ids: list[str], states: list[str], before: float | None
) -> tuple[int, list[tuple[str, str]]]:
    """Delete the jobs named that are in one of ``states`` (and finished before ``before``);
    the keys they held stay held to the end of their window. How many went, and the type
    and group of each running one among them."""
    deleted = 0
    running: list[tuple[str, str]] = []
    state_marks = ", ".join("?" * len(states))
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        marks = ", ".join("?" * len(chunk))
        finished = "" if before is None else " AND completed_at IS NOT NULL AND completed_at < ?"
        gone = conn.execute(
            f"DELETE FROM stackduck_jobs WHERE id IN ({marks}) AND status IN ({state_marks}){finished} "
            "RETURNING id, job_type, idempotency_key, status, group_key",
            (*chunk, *states, *(() if before is None else (before,))),
        ).fetchall()
        deleted += len(gone)
        running += [(job_type, group) for _, job_type, _, status, group in gone if status == "running"]
        conn.executemany(
            "UPDATE stackduck_idempotency SET job_kept = 0 WHERE job_type = ? AND key = ? AND job_id = ?",
            [(job_type, key, job_id) for job_id, job_type, key, _, _ in gone if key],
        )
    return deleted, running


def _where(query: JobQuery) -> tuple[str, list[Any]]:
    """The jobs browser's filters as a WHERE clause and its parameters."""
    conditions: list[str] = ["1"]
    params: list[Any] = []
    status = query.walked_status
    for column, value in (
        ("status", status.value if status is not None else None),
        ("job_type", query.job_type),
        ("priority", query.priority),
        ("group_key", query.group),
    ):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if query.scheduled is not None:
        conditions.append("(status = 'queued' AND run_at > ?) = ?")
        params += [query.now, int(query.scheduled)]
    if query.metadata is not None:
        key, value = query.metadata
        conditions.append("metadata <> '' AND json_extract(metadata, ?) = ?")
        params += ['$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"', value]
    return " AND ".join(conditions), params


def _after(order: Order, cursor: str) -> tuple[Any, ...]:
    if order is Order.DUE:
        return due_place(cursor)
    if len(cursor) != 36:
        raise InvalidJob(f"page_token {quoted(cursor)} is not one this server handed out")
    return (cursor,)


def _attempt_bytes(attempts: str) -> int:
    if not attempts:
        return 0
    return sum(
        len(a["error"].encode()) + len(a["worker_id"].encode()) + LISTED_ATTEMPT_BYTES
        for a in json.loads(attempts)
    )
