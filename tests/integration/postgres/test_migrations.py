"""The schema: migrations agree with the canonical file, run once under concurrency,
and the indexes serve the hot queries on a large table."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from stackduck.adapters.postgres.migrations import available, canonical_schema, migrate
from stackduck.adapters.postgres.queries import sql
from stackduck.adapters.postgres.store import listing
from stackduck.application.ports import Order

STACKDUCK = str(Path(sys.executable).parent / "stackduck")

TABLES = "table_schema = 'public' AND table_name LIKE 'stackduck%' AND table_name <> 'stackduck_migrations'"
DESCRIBE = [
    f"""SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
        FROM information_schema.columns WHERE {TABLES} ORDER BY table_name, column_name""",
    """SELECT tablename, indexname, indexdef FROM pg_indexes
       WHERE tablename LIKE 'stackduck%' AND tablename <> 'stackduck_migrations' ORDER BY indexname""",
    """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
       WHERE conrelid::regclass::text LIKE 'stackduck%' AND conrelid::regclass::text <> 'stackduck_migrations'
       ORDER BY 1, conname""",
]
ALL_TABLES = (
    "stackduck_jobs, stackduck_paused, stackduck_idempotency, stackduck_schedules, stackduck_limits, "
    "stackduck_groups, stackduck_minutes, "
    "stackduck_migrations"
)


def describe(url: str) -> list[list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return [conn.execute(query.encode()).fetchall() for query in DESCRIBE]


async def test_all_migrations_give_the_canonical_schema(fresh_database: str, postgres_database: str) -> None:
    await migrate(fresh_database)
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {ALL_TABLES}")
        conn.execute(canonical_schema().encode())
    try:
        assert describe(fresh_database) == describe(postgres_database)
    finally:
        with psycopg.connect(postgres_database, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {ALL_TABLES}")
        await migrate(postgres_database)


async def test_servers_starting_together_apply_each_migration_once(fresh_database: str) -> None:
    applied = await asyncio.gather(*(migrate(fresh_database) for _ in range(6)))

    assert sorted(len(batch) for batch in applied) == [0] * 5 + [len(available())]
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("SELECT version FROM stackduck_migrations ORDER BY version").fetchall()
    assert [row[0] for row in rows] == [m.version for m in available()]


def test_stackduck_migrate_command(fresh_database: str) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_database}

    first = subprocess.run([STACKDUCK, "migrate"], env=env, capture_output=True, text=True, check=False)
    second = subprocess.run([STACKDUCK, "migrate"], env=env, capture_output=True, text=True, check=False)

    assert first.returncode == 0, first.stderr
    assert "0001_initial" in first.stderr
    assert second.returncode == 0 and "already up to date" in second.stderr


def test_migrate_without_a_database_url_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run([STACKDUCK, "migrate"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "DATABASE_URL is not set" in result.stderr


FILL = """
INSERT INTO stackduck_jobs (id, job_type, payload, priority, delay, max_retries, status, run_at,
                            created_at, updated_at, lease_owner, lease_expires_at, metadata)
SELECT gen_random_uuid(), 'type-' || (g %% 20), '{}', 1 + g %% 3, 30, 2,
       (ARRAY['queued', 'queued', 'completed', 'failed', 'running'])[1 + g %% 5],
       %(now)s + CASE WHEN g %% 10 = 0 THEN 3600 ELSE -g END, %(now)s, %(now)s,
       CASE WHEN g %% 5 = 4 THEN 'w' END, CASE WHEN g %% 5 = 4 THEN %(now)s + g END,
       CASE WHEN g %% 50 = 0 THEN '{"tenant": "t' || (g %% 7) || '"}' ELSE '' END
FROM generate_series(1, 100000) AS g
"""

NOW = 1_800_000_000.0
#: A listing's parameters, filtering on nothing (list_jobs.sql, _job_filter.sql).
LISTED = {
    "status": None, "job_type": None, "priority": None, "group": None, "scheduled": None, "now": NOW,
    "meta_key": None, "meta_value": None, "after_at": None, "after": "00000000-0000-0000-0000-000000000000",
    "limit": 100, "max_bytes": 4 << 20, "job_bytes": 128, "attempt_bytes": 48,
}  # fmt: skip
HOT_QUERIES = {
    "claim": (sql("claim"), {"job_types": ["type-1", "type-7"], "now": NOW, "limit": 10, "worker_id": "w",
                             "lease_seconds": 60}, "stackduck_jobs_ready"),
    "became_due": (sql("became_due"), {"since": NOW - 1, "now": NOW}, "stackduck_jobs_due"),
    "next_due": (b"SELECT min(run_at) FROM stackduck_jobs WHERE status = 'queued' AND run_at > %(now)s",
                 {"now": NOW}, "stackduck_jobs_due"),
    "leases": (sql("next_lease_deadline"), {}, "stackduck_jobs_leases"),
    "expired leases": (sql("expired_leases"), {"now": NOW, "limit": 100}, "stackduck_jobs_leases"),
    "dead letters": (listing(Order.OLDEST), {**LISTED, "status": "failed"}, "stackduck_jobs_status"),
    "metadata search": (listing(Order.OLDEST), {**LISTED, "meta_key": "tenant", "meta_value": "t3"},
                        "stackduck_jobs_metadata"),
    "due order": (listing(Order.DUE), {**LISTED, "status": "queued"}, "stackduck_jobs_due"),
    "complete": (sql("complete"), {"completions": json.dumps(
        [{"id": str(uuid.uuid4()), "worker_id": "w", "token": 1, "now": NOW} for _ in range(100)]
    )}, "stackduck_jobs_pkey"),
    "start": (sql("start"), {"ids": ",".join(str(uuid.uuid4()) for _ in range(100)), "worker_id": "w",
                             "now": NOW, "lease_seconds": 60}, "stackduck_jobs_status"),  # (status, id)
    "write-back": (sql("apply"), {"changes": json.dumps([{"id": str(uuid.uuid4()), "expected_version": 0}
                                                         for _ in range(100)])}, "stackduck_jobs_pkey"),
    "retention": (sql("prune"), {"statuses": ["completed", "cancelled"], "before": NOW - 86400,
                                 "limit": 1000}, "stackduck_jobs_finished"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(HOT_QUERIES))
async def test_hot_queries_use_their_index_on_100_000_jobs(fresh_database: str, name: str) -> None:
    await migrate(fresh_database)
    query, params, index = HOT_QUERIES[name]
    with psycopg.connect(fresh_database) as conn:
        conn.execute(FILL.encode(), {"now": NOW})
        conn.execute("ANALYZE stackduck_jobs")
        plan = "\n".join(row[0] for row in conn.execute(b"EXPLAIN " + query, params).fetchall())
        conn.rollback()

    assert index in plan, plan
    assert "Seq Scan on stackduck_jobs" not in plan, plan
