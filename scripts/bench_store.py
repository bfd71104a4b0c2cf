"""What one job's trip through the PostgreSQL store costs the server, in process.

    .venv/bin/python scripts/bench_store.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
        [--batch 100] [--rounds 60]

A scratch database is created (and dropped at the end); each round inserts BATCH jobs,
claims them through the claimer and completes them through the store, as the batch
path does, and the script prints the client CPU (this process: the driver, the rows
read back, the jobs built) per job for each step, the first ten rounds left out. The
database's own CPU is not in it. Run it from two trees (PYTHONPATH=<tree>/src) to
compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import time
from collections import Counter
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.claimer import PostgresClaimer
from stackduck.adapters.postgres.migrations import migrate
from stackduck.adapters.postgres.store import PostgresJobStore
from stackduck.application.ids import JobIds
from stackduck.application.ports import Completion
from stackduck.domain.job import Job
from stackduck.domain.rules import JobRequest, validate

SCRATCH = "stackduck_bench_store"


class _Quiet:
    """A notifier that tells no one (the claimer announces what it passed over)."""

    async def notify(self, counts: Counter[str]) -> None:
        return None


async def run(server_url: str, batch: int, rounds: int) -> dict[str, float]:
    base = server_url.rsplit("/", 1)[0]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{SCRATCH}"')
    url = f"{base}/{SCRATCH}"
    try:
        await migrate(url)
        async with AsyncConnectionPool(url, min_size=2, max_size=4, open=False) as pool:
            # The claimer takes a notifier where it announces passed-over jobs.
            wants_notifier = len(inspect.signature(PostgresClaimer.__init__).parameters) == 3
            args: tuple[Any, ...] = (pool, _Quiet()) if wants_notifier else (pool,)
            store, claimer, ids = PostgresJobStore(pool), PostgresClaimer(*args), JobIds()
            spent = {"insert": 0.0, "claim": 0.0, "complete": 0.0}
            counted = 0
            for round_ in range(rounds):
                now = time.time()
                spec = validate(JobRequest("t", '{"n": 1}'), now, 1 << 20)
                jobs = [Job.new(job_id, spec, now) for job_id in ids.new_many(now, batch)]
                started = time.process_time()
                await store.insert(jobs)
                inserted = time.process_time()
                claimed = await claimer.claim("w", ["t"], time.time(), 60, batch)
                leased = time.process_time()
                done = await store.complete([Completion(j.id, "w", j.attempt, time.time()) for j in claimed])
                finished = time.process_time()
                assert len(claimed) == batch and all(done)
                if round_ >= 10:
                    spent["insert"] += inserted - started
                    spent["claim"] += leased - inserted
                    spent["complete"] += finished - leased
                    counted += batch
            return {step: seconds / counted * 1e6 for step, seconds in spent.items()}
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    per_job = asyncio.run(run(args.url, args.batch, args.rounds))
    print("  ".join(f"{step} {us:.1f} µs" for step, us in per_job.items()), "(client CPU per job)")


if __name__ == "__main__":
    main()
