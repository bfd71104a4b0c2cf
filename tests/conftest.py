"""Session-wide services: a throwaway PostgreSQL database for this test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from stackduck.entrypoints.bench.storage import throwaway_database
from tests.leaks import _no_secret_leaks, configured_secrets  # noqa: F401  (fixtures for every test)
from tests.services import POSTGRES, REDIS, service_url


@pytest.fixture(scope="session", autouse=True)
def _http_on_a_free_port() -> Iterator[None]:
    """Servers the tests start (in this process or as subprocesses) take a free HTTP
    port rather than the default 8080, which another server may hold."""
    saved = os.environ.get("HTTP_ADDR")
    os.environ["HTTP_ADDR"] = "127.0.0.1:0"
    yield
    if saved is None:
        del os.environ["HTTP_ADDR"]
    else:
        os.environ["HTTP_ADDR"] = saved


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a Postgres server where this run may create and drop databases."""
    with service_url(POSTGRES) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """The URL of a database made for this run, dropped at its end."""
    with throwaway_database(postgres_server, "test") as url:
        yield url


@pytest.fixture
def fresh_database(postgres_server: str) -> Iterator[str]:
    """An empty database of its own for one test (no schema), dropped after it."""
    with throwaway_database(postgres_server, "test") as url:
        yield url


@pytest.fixture
def postgres(postgres_database: str) -> str:
    """The run's database, emptied of jobs (the schema is applied by the server at start)."""
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT string_agg(tablename, ', ') FROM pg_tables "
            "WHERE schemaname = 'public' "
            "AND tablename IN ('stackduck_jobs', 'stackduck_paused', 'stackduck_idempotency', "
            "'stackduck_schedules', 'stackduck_limits', 'stackduck_groups', 'stackduck_minutes')"
        ).fetchone()
        if tables and tables[0]:
            conn.execute(f"TRUNCATE {tables[0]}".encode())
    return postgres_database


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    with service_url(REDIS) as url:
        yield url


@pytest.fixture
def redis_prefix(redis_server: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted after it."""
    prefix = f"stackduck-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_server)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def storage_env(request: pytest.FixtureRequest, storage: str) -> dict[str, str]:
    """Settings for a storage configuration, with the services it needs."""
    env: dict[str, str] = {}
    if "postgres" in storage:
        env["DATABASE_URL"] = request.getfixturevalue("postgres")
    if "redis" in storage:
        env["REDIS_URL"] = request.getfixturevalue("redis_server")
        env["STACKDUCK_REDIS_PREFIX"] = request.getfixturevalue("redis_prefix")
    if storage == "memory":
        env["STACKDUCK_STORAGE"] = "memory"
    if storage == "sqlite":  # a data directory of the test's own
        env["STACKDUCK_STORAGE"] = "sqlite"
        env["STACKDUCK_DATA_DIR"] = str(request.getfixturevalue("tmp_path") / "stackduck-data")
    return env


STORAGES = ["memory", "sqlite", "postgres", "redis", "redis+postgres"]
#: The storage of one process only: memory, and the SQLite file a server owns.
ONE_PROCESS = ("memory", "sqlite")


def one_process(settings: dict[str, str]) -> bool:
    """Settings of a storage one server process has to itself: no other instance shares it."""
    return not settings.get("DATABASE_URL") and not settings.get("REDIS_URL")
