"""A listing page loads the payloads it returns, not those of every job it looks at."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator

import psycopg
import pytest
import redis

from stackduck.adapters.postgres.store import MAX_ID, NIL_ID, listing
from stackduck.application.ids import JobIds
from stackduck.application.ports import LISTED_ATTEMPT_BYTES, LISTED_JOB_BYTES, JobQuery, JobStore, Order
from stackduck.container import build_container, close_resources, provide
from stackduck.domain.job import Job
from stackduck.domain.rules import JobSpec
from stackduck.settings import Settings
from tests.redis_server import private_redis

NOW = 1_800_000_000.0
JOBS = 20
PAYLOAD_BYTES = 256 * 1024
#: Room for one payload on a page, not two.
BUDGET = PAYLOAD_BYTES * 3 // 2


def incompressible_jobs() -> list[Job]:
    """Jobs whose payloads neither compress nor fit in a row: stored apart (TOAST)."""
    ids = JobIds()
    jobs = []
    for _ in range(JOBS):
        text = base64.b64encode(os.urandom(PAYLOAD_BYTES * 3 // 4)).decode()
        spec = JobSpec("big", f'"{text[: PAYLOAD_BYTES - 2]}"', 2, 30, 2, NOW)
        jobs.append(Job.new(ids.new(NOW), spec, NOW))
    return jobs


async def stored(**settings: str) -> AsyncIterator[JobStore]:
    container = build_container(Settings(**settings))
    try:
        store: JobStore = await provide(container.store)
        await store.insert(incompressible_jobs())
        yield store
    finally:
        await close_resources(container)


@pytest.fixture
async def postgres_store(postgres: str) -> AsyncIterator[JobStore]:
    async for store in stored(DATABASE_URL=postgres):
        yield store


async def test_postgres_reads_the_payloads_of_the_page_only(postgres_store: JobStore, postgres: str) -> None:
    page = await postgres_store.list_jobs(JobQuery(), 1000, "", BUDGET)
    assert len(page.jobs) == 1 and page.next_cursor == page.jobs[0].id

    def payload_blocks_read(query: bytes, params: dict[str, object]) -> int:
        """Blocks of the table's out-of-line values (its TOAST) read by ``query``."""
        with psycopg.connect(postgres) as conn:
            conn.execute(query, params).fetchall()
            row = conn.execute(
                "SELECT pg_stat_get_xact_blocks_fetched(reltoastrelid) FROM pg_class "
                "WHERE relname = 'stackduck_jobs'"
            ).fetchone()
            assert row is not None
            return int(row[0])

    params = {
        "status": None,
        "job_type": None,
        "priority": None,
        "group": None,
        "scheduled": None,
        "now": NOW,
        "meta_key": None,
        "meta_value": None,
        "limit": 1000,
        "max_bytes": BUDGET,
        "job_bytes": LISTED_JOB_BYTES,
        "attempt_bytes": LISTED_ATTEMPT_BYTES,
    }
    one_payload = payload_blocks_read(b"SELECT payload FROM stackduck_jobs LIMIT 1", {})
    every_payload = payload_blocks_read(b"SELECT payload FROM stackduck_jobs", {})
    assert every_payload >= JOBS * one_payload > 0  # what is measured: payloads read
    for order in Order:  # every order reads the payloads of its page only
        after = MAX_ID if order is Order.NEWEST else NIL_ID
        assert (
            payload_blocks_read(listing(order), {**params, "after": after, "after_at": None})
            <= 2 * one_payload
        )


def bytes_sent(url: str) -> int:
    """What a Redis server has sent its clients so far."""
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_net_output_bytes"])
    finally:
        client.close()


async def test_redis_sends_the_payloads_of_the_page_only() -> None:
    with private_redis() as server:
        async for store in stored(REDIS_URL=server.url):
            before = bytes_sent(server.url)
            page = await store.list_jobs(JobQuery(), 1000, "", BUDGET)
            used = bytes_sent(server.url) - before
            assert len(page.jobs) == 1 and page.next_cursor == page.jobs[0].id
            assert PAYLOAD_BYTES < used < 2 * PAYLOAD_BYTES
