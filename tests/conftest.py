"""Session-wide services: a throwaway PostgreSQL database for this test run."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.services import postgres_url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a Postgres server where this run may create and drop databases."""
    with postgres_url() as url:
        yield url


@contextlib.contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    name = f"stackduck_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server_url)
    params["dbname"] = name
    try:
        yield make_conninfo("", **params)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """The URL of a database made for this run, dropped at its end."""
    with throwaway_database(postgres_server) as url:
        yield url


@pytest.fixture
def fresh_database(postgres_server: str) -> Iterator[str]:
    """An empty database of its own for one test (no schema), dropped after it."""
    with throwaway_database(postgres_server) as url:
        yield url


@pytest.fixture
def postgres(postgres_database: str) -> str:
    """The run's database, emptied of jobs (the schema is applied by the server at start)."""
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('stackduck_jobs') IS NOT NULL").fetchone()
        if exists and exists[0]:
            conn.execute("TRUNCATE stackduck_jobs")
    return postgres_database
