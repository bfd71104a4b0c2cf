"""How long each of the dashboard's requests takes with many jobs stored, on PostgreSQL.

    .venv/bin/python scripts/dashboard_timings.py --jobs 1000000

fills a database of its own (``stackduck_dashboard``, dropped and made again) with that
many jobs, a mix of states, types, priorities, groups and metadata, and a day of the
charts' minutes; starts ``stackduck serve`` on it; then times every read the dashboard
makes (and a bulk count), each several times, and prints the fastest, the median and the
slowest in ms. The first request of each is left out (it warms the server and the
database's caches); the stats read's first time is printed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

DATABASE = "stackduck_dashboard"
STACKDUCK = str(Path(sys.executable).parent / "stackduck")
HTTP = "127.0.0.1:18080"

FILL = """
INSERT INTO stackduck_jobs (
    id, job_type, payload, priority, delay, max_retries, status, run_at, created_at,
    updated_at, completed_at, error_message, metadata, group_key, attempts
)
SELECT
    -- time-ordered ids, as the server makes them: the row number in the first bytes
    (lpad(to_hex(n), 12, '0') || '7000' || '8000' || lpad(to_hex(n), 12, '0'))::uuid,
    'type-' || (n %% 10),
    '{"n": ' || n || ', "note": "' || repeat('x', 100) || '"}',
    1 + n %% 3, 30, 2,
    CASE WHEN n %% 100 < 60 THEN 'completed' WHEN n %% 100 < 65 THEN 'failed'
         WHEN n %% 100 < 67 THEN 'cancelled' ELSE 'queued' END,
    %(now)s - 86400 + n * 86400.0 / %(jobs)s + CASE WHEN n %% 100 = 99 THEN 7200 ELSE 0 END,
    %(now)s - 86400 + n * 86400.0 / %(jobs)s,
    %(now)s - 86400 + n * 86400.0 / %(jobs)s,
    CASE WHEN n %% 100 < 67 THEN %(now)s - 86400 + n * 86400.0 / %(jobs)s + 1 END,
    CASE WHEN n %% 100 BETWEEN 60 AND 64 THEN 'boom ' || n ELSE '' END,
    CASE WHEN n %% 10 = 0 THEN '{"tenant": "t' || (n %% 1000) || '"}' ELSE '' END,
    CASE WHEN n %% 20 = 0 THEN 'g' || (n %% 500) ELSE '' END,
    '[]'
FROM generate_series(1, %(jobs)s) AS n
"""

MINUTES = """
INSERT INTO stackduck_minutes (minute, job_type, enqueued, completed, retried, dead, runs, depth, oldest_wait)
SELECT m, 'type-' || t, 100, 95, 3, 2, array_fill(5::bigint, ARRAY[19]), 1000, 12.5
FROM generate_series(%(first)s::bigint, %(last)s::bigint, 60) AS m, generate_series(0, 9) AS t
"""

READS = [
    "/",
    "/api/queues",
    "/api/workers",
    "/api/dead?limit=100",
    "/api/schedules",
    "/api/limits",
    "/api/history?hours=1",
    "/api/history?hours=24",
    "/api/history?hours=24&job_type=type-3",
    "/api/jobs?limit=50",
    "/api/jobs?limit=50&order=newest",
    "/api/jobs?limit=50&order=due",
    "/api/jobs?limit=50&status=failed",
    "/api/jobs?limit=50&job_type=type-3&priority=1",
    "/api/jobs?limit=50&group=g7",
    "/api/jobs?limit=50&scheduled=true",
    "/api/jobs?limit=50&metadata=tenant%3Dt420",
    "/api/jobs?limit=50&job_type=type-0&metadata=tenant%3Dt420",
    "/api/jobs?limit=50&metadata=tenant%3Dnobody",  # no match: every job looked at
]
COUNTS = [
    {"action": "requeue", "status": "failed", "count_only": True},
    {"action": "cancel", "job_type": "type-3", "count_only": True},
    {"action": "cancel", "metadata": "tenant=t420", "count_only": True},
]


def fill(admin_url: str, url: str, jobs: int) -> float:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}".encode())
        conn.execute(f"CREATE DATABASE {DATABASE}".encode())
    subprocess.run([STACKDUCK, "migrate"], env={**os.environ, "DATABASE_URL": url}, check=True)
    now = time.time()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FILL.encode(), {"now": now, "jobs": jobs})
        minute = int(now) // 60 * 60
        conn.execute(MINUTES.encode(), {"first": minute - 86400, "last": minute})
        conn.execute(b"VACUUM ANALYZE")
    return time.perf_counter() - started


async def timed(http: aiohttp.ClientSession, method: str, path: str, body: Any, rounds: int) -> list[float]:
    took = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        async with http.request(method, f"http://{HTTP}{path}", json=body) as response:
            await response.read()
            assert response.status == 200, (path, response.status, await response.text())
        took.append((time.perf_counter() - started) * 1000)
    return took


async def measure(rounds: int) -> None:
    headers = {"X-Stackduck": "1"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(100):
            try:
                async with http.get(f"http://{HTTP}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        first = (await timed(http, "GET", "/api/queues", None, 0))[0]
        print(f"the first stats read (nothing kept yet): {first:.0f} ms")
        async with http.get(f"http://{HTTP}/api/jobs?limit=1") as response:
            some_id = (await response.json())["jobs"][0]["id"]
        print(f"{'request':<62} {'min':>7} {'median':>7} {'max':>7}")
        cases = [("GET", path, None) for path in [*READS, f"/api/jobs/{some_id}"]]
        cases += [("POST", "/api/jobs/bulk", body) for body in COUNTS]
        for method, path, body in cases:
            took = (await timed(http, method, path, body, rounds))[1:]
            label = f"{method} {path}" + (f" {body}" if body else "")
            print(f"{label[:62]:<62} {min(took):7.1f} {statistics.median(took):7.1f} {max(took):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="timed requests of each kind")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    url = args.admin_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    took = fill(args.admin_url, url, args.jobs)
    print(f"{args.jobs:,} jobs and a day of chart minutes stored in {took:.0f} s")
    env = {**os.environ, "DATABASE_URL": url, "HTTP_ADDR": HTTP, "GRPC_PORT": "18051"}
    env.pop("REDIS_URL", None)
    quiet = subprocess.DEVNULL
    server = subprocess.Popen([STACKDUCK, "serve"], env=env, stdout=quiet, stderr=quiet)
    try:
        asyncio.run(measure(args.rounds))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
