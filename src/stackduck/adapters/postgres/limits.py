"""Limits in PostgreSQL (the ``stackduck_limits`` table) and the groups' turns
(``stackduck_groups``), shared by every instance: PostgreSQL alone, and the record under
Redis.

A limited or grouped claim is one transaction: lock the limits of the asked types
(``lock.sql``), count their running jobs, per group for a type with a group_concurrency
(``running.sql``, a statement whose snapshot is taken after the lock, so it sees every
claim that held the lock before), lease the best due jobs, no more of each type than
``Limit.allowance`` allows (``claim.sql``; with a type in turns, turns.py), and write the
spent buckets (``spend.sql``). Limited claims of one type thus run one at a time across
instances; claims of unlimited, ungrouped types never touch the tables.

Under Redis, the ready queue also holds entries for the jobs a limited claim leases here:
they are removed once it commits (an entry left behind, Redis being down, is dropped
as stale by the claim that pops it)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import JobColumns, sql
from stackduck.adapters.postgres.turns import take_turns
from stackduck.application.limits import LimitedClaim, LimitUsage
from stackduck.application.ports import Notifier, QueueEntry, ReadyQueue
from stackduck.domain.job import Job
from stackduck.domain.limits import Bucket, Limit

log = logging.getLogger(__name__)


def _limit(row: Sequence[Any]) -> Limit:
    job_type, concurrency, rate, per, burst, group_concurrency = row[:6]
    return Limit(job_type, concurrency, rate, per, burst, group_concurrency)


def _bucket(tokens: float | None, counted_at: float | None) -> Bucket | None:
    return None if tokens is None or counted_at is None else Bucket(tokens, counted_at)


class PostgresLimits:
    def __init__(
        self, pool: AsyncConnectionPool[Any], notifier: Notifier, queue: ReadyQueue | None = None
    ) -> None:
        """``queue``: the ready queue kept beside the record (Redis over PostgreSQL)."""
        self._pool = pool
        self._notifier = notifier
        self._queue = queue

    @translated
    async def limits(self) -> list[Limit]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("limits/list"))
            return [_limit(row) for row in await cursor.fetchall()]

    @translated
    async def grouped(self) -> frozenset[str]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("groups/types"))
            return frozenset(row[0] for row in await cursor.fetchall())

    @translated
    async def freed(self, job_type: str, groups: Collection[str], now: float) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(sql("groups/freed"), {"job_type": job_type, "groups": sorted(groups)})

    @translated
    async def put(self, limit: Limit, now: float) -> None:
        params = {
            "job_type": limit.job_type,
            "concurrency": limit.concurrency,
            "rate": limit.rate,
            "per": limit.per,
            "burst": limit.burst,
            "group_concurrency": limit.group_concurrency,
            "size": limit.bucket_size,
            "now": now,
        }
        async with self._pool.connection() as conn:
            await conn.execute(sql("limits/put"), params)

    @translated
    async def remove(self, job_type: str) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("limits/delete"), {"job_type": job_type})
            return await cursor.fetchone() is not None

    @translated
    async def usage(self, now: float) -> list[LimitUsage]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql("limits/usage"))
            rows = await cursor.fetchall()
        usages = []
        for row in rows:
            limit, bucket = _limit(row), _bucket(row[6], row[7])
            tokens = limit.tokens(bucket, now)
            usages.append(LimitUsage(limit, row[8], tokens))
        return usages

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
        async with self._pool.connection() as conn, conn.transaction():
            stored: dict[str, tuple[Limit, Bucket | None]] = {}
            if limited:
                cursor = await conn.execute(sql("limits/lock"), {"job_types": sorted(set(limited))})
                stored = {row[0]: (_limit(row), _bucket(row[6], row[7])) for row in await cursor.fetchall()}
            running: dict[str, dict[str, int]] = {}
            if stored:
                params = {
                    "job_types": list(stored),
                    "by_group": [t for t, (lim, _) in stored.items() if lim.group_concurrency],
                }
                cursor = await conn.execute(sql("limits/running"), params)
                for job_type, group, count in await cursor.fetchall():
                    running.setdefault(job_type, {})[group] = count
            allowances = {
                t: lim.allowance(sum(running.get(t, {}).values()), bucket, now, limit)
                for t, (lim, bucket) in stored.items()
            }
            caps = {t: allowances[t].starts if t in allowances else limit for t in types}
            if grouped:
                limits = {t: lim for t, (lim, _) in stored.items()}
                turns = await take_turns(
                    conn, worker_id, types, set(grouped), caps, limits, running, now, lease_seconds, limit
                )
                jobs, passed_over = turns.jobs, turns.passed_over
            else:
                jobs, passed_over = await self._claim_in_order(
                    conn, worker_id, types, caps, now, lease_seconds, limit
                )
            started = {t: 0 for t in stored}
            for job in jobs:
                if job.job_type in started:
                    started[job.job_type] += 1
            spent: dict[str, Bucket] = {}
            for t, (lim, bucket) in stored.items():
                if (after := lim.spend(bucket, started[t], now)) is not None and started[t]:
                    spent[t] = after
            if spent:
                await conn.execute(
                    sql("limits/spend"),
                    {
                        "job_types": list(spent),
                        "tokens": [b.tokens for b in spent.values()],
                        "counted_at": [b.at for b in spent.values()],
                    },
                )
        retry_at = {
            t: lim.next_token_at(spent.get(t, bucket), now)
            for t, (lim, bucket) in stored.items()
            if allowances[t].rate_bound and started[t] == allowances[t].starts
        }
        await self._after(jobs, passed_over, types)
        return LimitedClaim(jobs, retry_at)

    async def _claim_in_order(
        self,
        conn: AsyncConnection[Any],
        worker_id: str,
        types: list[str],
        caps: dict[str, int],
        now: float,
        lease_seconds: float,
        limit: int,
    ) -> tuple[list[Job], int]:
        """``limits/claim.sql``: no type in turns, the best due jobs as an unlimited claim
        takes them, each type up to its cap. Also says how many rows it locked and left."""
        params = {
            "job_types": types,
            "caps": [caps[t] for t in types],
            "now": now,
            "limit": limit,
            "worker_id": worker_id,
            "lease_seconds": lease_seconds,
        }
        cursor = await conn.execute(sql("limits/claim"), params)
        rows = await cursor.fetchall()
        columns = JobColumns(cursor)
        jobs = sorted((columns.job(row) for row in rows), key=lambda job: job.ready_key)
        return jobs, rows[0][columns.at("locked")] - len(rows) if rows else 0

    async def _after(self, jobs: list[Any], passed_over: int, types: list[str]) -> None:
        """The leases are committed: what follows must not lose them to an error."""
        if self._queue is not None and jobs:
            try:
                await self._queue.remove([QueueEntry.of(job) for job in jobs])
            except Exception as exc:
                log.warning("could not take %d leased job(s) out of the ready queue: %s", len(jobs), exc)
        if passed_over:
            try:
                await self._notifier.notify(dict.fromkeys(types, passed_over))
            except Exception as exc:
                log.warning("could not announce %d passed-over job(s): %s", passed_over, exc)
