"""Jobs are read back from PostgreSQL rows by column name, whatever order a statement
lists the columns in."""

from __future__ import annotations

import psycopg

from stackduck.adapters.postgres.queries import JOB_COLUMNS, job_row
from stackduck.container import build_container, close_resources, provide
from stackduck.settings import Settings
from tests.sample_jobs import distinct_job


async def test_a_job_reads_back_by_column_name_in_any_column_order(postgres: str) -> None:
    container = build_container(Settings(DATABASE_URL=postgres, REDIS_URL=None))
    try:
        store = await provide(container.store)
        job = distinct_job()
        await store.insert([job])
    finally:
        await close_resources(container)
    backwards = ", ".join(reversed(JOB_COLUMNS.split(", ")))

    async with await psycopg.AsyncConnection.connect(postgres) as conn:
        cursor = await conn.cursor(row_factory=job_row).execute(
            f"SELECT {backwards} FROM stackduck_jobs WHERE id = %s::uuid".encode(), (job.id,)
        )
        rows = await cursor.fetchall()

    assert rows == [job]
