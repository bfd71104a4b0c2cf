"""Limits in PostgreSQL (the ``stackduck_limits`` table), shared by every instance:
PostgreSQL alone, and the record under Redis.

A limited claim is one transaction: lock the limits of the asked types (``lock.sql``),
count their running jobs (``running.sql``, a statement whose snapshot is taken after
the lock, so it sees every claim that held the lock before), lease the best due jobs,
no more of each type than ``Limit.allowance`` allows (``claim.sql``), and write the
spent buckets (``spend.sql``). Limited claims of one type thus run one at a time across
instances; claims of unlimited types never touch the table.

Under Redis, the ready queue also holds entries for the jobs a limited claim leases here:
they are removed once it commits (an entry left behind, Redis being down, is dropped
as stale by the claim that pops it)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import JobColumns, sql
from stackduck.application.limits import LimitedClaim, LimitUsage
from stackduck.application.ports import Notifier, QueueEntry, ReadyQueue
from stackduck.domain.limits import Bucket, Limit

log = logging.getLogger(__name__)


def _limit(row: Sequence[Any]) -> Limit:
    job_type, concurrency, rate, per, burst = row[:5]
    return Limit(job_type, concurrency, rate, per, burst)


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
    async def put(self, limit: Limit, now: float) -> None:
        params = {
            "job_type": limit.job_type,
            "concurrency": limit.concurrency,
            "rate": limit.rate,
            "per": limit.per,
            "burst": limit.burst,
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
            limit, bucket = _limit(row), _bucket(row[5], row[6])
            tokens = (bucket or limit.full_bucket(now)).level(limit, now) if limit.rate else None
            usages.append(LimitUsage(limit, row[7], tokens))
        return usages

    @translated
    async def claim(
        self,
        worker_id: str,
        job_types: Collection[str],
        limited: Collection[str],
        now: float,
        lease_seconds: float,
        limit: int,
    ) -> LimitedClaim:
        types = list(dict.fromkeys(job_types))
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(sql("limits/lock"), {"job_types": sorted(set(limited))})
            stored = {row[0]: (_limit(row), _bucket(row[5], row[6])) for row in await cursor.fetchall()}
            running: dict[str, int] = {}
            if stored:
                cursor = await conn.execute(sql("limits/running"), {"job_types": list(stored)})
                running = {job_type: count for job_type, count in await cursor.fetchall()}
            allowances = {
                t: lim.allowance(running.get(t, 0), bucket, now, limit) for t, (lim, bucket) in stored.items()
            }
            params = {
                "job_types": types,
                "caps": [allowances[t].starts if t in allowances else limit for t in types],
                "now": now,
                "limit": limit,
                "worker_id": worker_id,
                "lease_seconds": lease_seconds,
            }
            cursor = await conn.execute(sql("limits/claim"), params)
            rows = await cursor.fetchall()
            columns = JobColumns(cursor)
            jobs = [columns.job(row) for row in rows]
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
        await self._after(jobs, rows[0][columns.at("locked")] - len(rows) if rows else 0, types)
        return LimitedClaim(sorted(jobs, key=lambda job: job.ready_key), retry_at)

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
