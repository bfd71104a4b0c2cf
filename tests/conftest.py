"""Session-wide services: a throwaway PostgreSQL database for this test run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.services import postgres_url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a database made for this run (dropped at its end), schema applied."""
    with postgres_url() as server_url:
        name = f"stackduck_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        params = conninfo_to_dict(server_url)
        params["dbname"] = name
        url = make_conninfo("", **params)
        try:
            yield url
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres(postgres_database: str) -> str:
    """The run's database, emptied of jobs (the schema is applied by the server at start)."""
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('stackduck_jobs') IS NOT NULL").fetchone()
        if exists and exists[0]:
            conn.execute("TRUNCATE stackduck_jobs")
    return postgres_database
