"""Periodic schedules in the SQLite file: a fire step's compare-and-set on the schedule and
its jobs' insert are one write, so both land or neither does."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from stackduck.adapters.sqlite.database import Database
from stackduck.adapters.sqlite.store import SqliteJobStore, insert_jobs
from stackduck.application.schedules import Fire
from stackduck.domain.schedule import Rule, Schedule

COLUMNS = (
    "name", "job_type", "payload", "priority", "delay", "max_retries", "timeout", "metadata", "cron",
    "every_seconds", "timezone", "catch_up", "paused", "next_due", "last_run", "version", "created_at",
    "updated_at", "group_key",
)  # fmt: skip
SELECT = f"SELECT {', '.join(COLUMNS)} FROM stackduck_schedules"


def _row(schedule: Schedule) -> tuple[Any, ...]:
    return (
        schedule.name, schedule.job_type, schedule.payload, schedule.priority, schedule.delay,
        schedule.max_retries, schedule.timeout, schedule.metadata, schedule.rule.cron, schedule.rule.every,
        schedule.rule.timezone, int(schedule.catch_up), int(schedule.paused), schedule.next_due,
        schedule.last_run, schedule.version, schedule.created_at, schedule.updated_at, schedule.group_key,
    )  # fmt: skip


def _schedule(row: Sequence[Any]) -> Schedule:
    (
        name, job_type, payload, priority, delay, max_retries, timeout, metadata, cron, every,
        timezone, catch_up, paused, next_due, last_run, version, created_at, updated_at, group_key,
    ) = row  # fmt: skip
    return Schedule(
        name=name, job_type=job_type, payload=payload, priority=priority, delay=delay,
        max_retries=max_retries, timeout=timeout, metadata=metadata,
        rule=Rule(cron=cron, every=every, timezone=timezone), catch_up=bool(catch_up),
        paused=bool(paused), next_due=next_due, last_run=last_run, version=version,
        created_at=created_at, updated_at=updated_at, group_key=group_key,
    )  # fmt: skip


def _write(conn: sqlite3.Connection, schedule: Schedule, expected_version: int | None) -> bool:
    """The schedule written over ``expected_version`` (None: only if none has its name)."""
    values = _row(schedule)
    if expected_version is None:
        marks = ", ".join("?" * len(COLUMNS))
        statement = (
            f"INSERT INTO stackduck_schedules ({', '.join(COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        )
        return conn.execute(statement, values).rowcount == 1
    assignments = ", ".join(f"{c} = ?" for c in COLUMNS[1:])
    statement = f"UPDATE stackduck_schedules SET {assignments} WHERE name = ? AND version = ?"
    return conn.execute(statement, (*values[1:], schedule.name, expected_version)).rowcount == 1


class SqliteSchedules:
    def __init__(self, database: Database, store: SqliteJobStore) -> None:
        self._db = database
        self._store = store

    async def get(self, name: str) -> Schedule | None:
        found = await self._db.read(lambda conn: conn.execute(f"{SELECT} WHERE name = ?", (name,)).fetchone())
        return None if found is None else _schedule(found)

    async def read_all(self) -> list[Schedule]:
        rows = await self._db.read(lambda conn: conn.execute(f"{SELECT} ORDER BY name").fetchall())
        return [_schedule(found) for found in rows]

    async def put(self, schedule: Schedule, expected_version: int | None) -> bool:
        return await self._db.write(lambda conn: _write(conn, schedule, expected_version))

    async def delete(self, name: str) -> bool:
        statement = "DELETE FROM stackduck_schedules WHERE name = ?"
        return await self._db.write(lambda conn: conn.execute(statement, (name,)).rowcount == 1)

    async def due(self, now: float, limit: int) -> list[Schedule]:
        statement = f"{SELECT} WHERE NOT paused AND next_due <= ? ORDER BY next_due, name LIMIT ?"
        rows = await self._db.read(lambda conn: conn.execute(statement, (now, limit)).fetchall())
        return [_schedule(found) for found in rows]

    async def next_due(self) -> float | None:
        statement = "SELECT min(next_due) FROM stackduck_schedules WHERE NOT paused"
        found = await self._db.read(lambda conn: conn.execute(statement).fetchone())
        return None if found is None else found[0]

    async def fire(self, fire: Fire, key_seconds: float) -> list[str] | None:
        def write(conn: sqlite3.Connection) -> list[str] | None:
            if not _write(conn, fire.schedule, fire.expected_version):
                return None
            return insert_jobs(conn, fire.jobs, key_seconds) if fire.jobs else []

        try:
            holders = await self._db.write(write)
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"a job of the tick already exists: {exc}") from None
        if holders is not None:
            self._store.inserted(fire.jobs, holders)
        return holders
