"""Periodic schedules in PostgreSQL (the ``stackduck_schedules`` table), shared by every
instance: PostgreSQL alone, and the record under Redis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.groups import GroupMarks
from stackduck.adapters.postgres.queries import sql
from stackduck.adapters.postgres.store import insert_keyed
from stackduck.application.schedules import Fire
from stackduck.domain.schedule import Rule, Schedule


def _params(schedule: Schedule) -> dict[str, Any]:
    """A schedule as the statements name its columns."""
    return {
        "name": schedule.name,
        "job_type": schedule.job_type,
        "payload": schedule.payload,
        "priority": schedule.priority,
        "delay": schedule.delay,
        "max_retries": schedule.max_retries,
        "timeout": schedule.timeout,
        "metadata": schedule.metadata,
        "group_key": schedule.group_key,
        "cron": schedule.rule.cron,
        "every_seconds": schedule.rule.every,
        "timezone": schedule.rule.timezone,
        "catch_up": schedule.catch_up,
        "paused": schedule.paused,
        "next_due": schedule.next_due,
        "last_run": schedule.last_run,
        "version": schedule.version,
        "created_at": schedule.created_at,
        "updated_at": schedule.updated_at,
    }


def _schedule(row: Sequence[Any]) -> Schedule:
    """A schedule from a row in the statements' column order (get.sql, list.sql, due.sql)."""
    (
        name, job_type, payload, priority, delay, max_retries, timeout, metadata, cron, every,
        timezone, catch_up, paused, next_due, last_run, version, created_at, updated_at, group_key,
    ) = row  # fmt: skip
    return Schedule(
        name=name,
        job_type=job_type,
        payload=payload,
        priority=priority,
        delay=delay,
        max_retries=max_retries,
        timeout=timeout,
        metadata=metadata,
        rule=Rule(cron=cron, every=every, timezone=timezone),
        catch_up=catch_up,
        paused=paused,
        next_due=next_due,
        last_run=last_run,
        version=version,
        created_at=created_at,
        updated_at=updated_at,
        group_key=group_key,
    )


class PostgresSchedules:
    def __init__(self, pool: AsyncConnectionPool[Any], marks: GroupMarks) -> None:
        self._pool = pool
        self._marks = marks  # the job store's: which types this process has marked grouped

    @translated
    async def get(self, name: str) -> Schedule | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("schedules/get"), {"name": name})
            row = await cursor.fetchone()
        return None if row is None else _schedule(row)

    @translated
    async def read_all(self) -> list[Schedule]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("schedules/list"))
            return [_schedule(row) for row in await cursor.fetchall()]

    @translated
    async def put(self, schedule: Schedule, expected_version: int | None) -> bool:
        async with self._pool.connection() as conn:
            return await _write(conn, schedule, expected_version)

    @translated
    async def delete(self, name: str) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("schedules/delete"), {"name": name})
            return await cursor.fetchone() is not None

    @translated
    async def due(self, now: float, limit: int) -> list[Schedule]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("schedules/due"), {"now": now, "limit": limit})
            return [_schedule(row) for row in await cursor.fetchall()]

    @translated
    async def next_due(self) -> float | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("schedules/next_due"))
            row = await cursor.fetchone()
        return None if row is None else row[0]

    @translated
    async def fire(self, fire: Fire, key_seconds: float) -> list[str] | None:
        """One transaction: the compare-and-set on the schedule's row (which holds the row
        lock to the end: a racing step waits, then finds the version moved on), then the
        jobs by ``insert_keyed.sql`` with a grouped job's turn (its type marked first, as
        the store's inserts do). Nothing is written unless all are."""
        async with self._pool.connection() as conn:
            await self._marks.mark(conn, {job.job_type for job in fire.jobs if job.group_key})
            async with conn.transaction():
                if not await _write(conn, fire.schedule, fire.expected_version):
                    return None
                if not fire.jobs:
                    return []
                return await insert_keyed(conn, fire.jobs, key_seconds)


async def _write(conn: AsyncConnection[Any], schedule: Schedule, expected_version: int | None) -> bool:
    if expected_version is None:
        cursor = await conn.execute(sql("schedules/create"), _params(schedule))
    else:
        params = {**_params(schedule), "expected_version": expected_version}
        cursor = await conn.execute(sql("schedules/update"), params)
    return await cursor.fetchone() is not None
