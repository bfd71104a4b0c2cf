"""Throwaway storage for each benchmarked configuration, removed afterwards."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

CONFIGS = ("memory", "sqlite", "postgres", "redis", "redis+postgres")


def postgres_answers(url: str | None) -> bool:
    if not url:
        return False
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def redis_answers(url: str | None) -> bool:
    if not url:
        return False
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@contextlib.contextmanager
def throwaway_database(server_url: str, kind: str = "bench") -> Iterator[str]:
    """A new database on the server at ``server_url``, dropped afterwards."""
    name = f"stackduck_{kind}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server_url)
    params["dbname"] = name
    try:
        yield make_conninfo("", **params)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _prefix(redis_url: str) -> Iterator[str]:
    prefix = f"stackduck-bench-{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=5000))
            for start in range(0, len(keys), 5000):
                client.delete(*keys[start : start + 5000])
        finally:
            client.close()


@contextlib.contextmanager
def provision(config: str, database_url: str | None, redis_url: str | None) -> Iterator[dict[str, str]]:
    """Server settings for ``config`` on fresh storage (a new database, a new key prefix)."""
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if config in ("memory", "sqlite"):
            env["STACKDUCK_STORAGE"] = config
        if config == "sqlite":  # a data directory of its own, removed afterwards
            env["STACKDUCK_DATA_DIR"] = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="stackduck-bench-")
            )
        if "postgres" in config:
            assert database_url is not None
            env["DATABASE_URL"] = stack.enter_context(throwaway_database(database_url))
        if "redis" in config:
            assert redis_url is not None
            env["REDIS_URL"] = redis_url
            env["STACKDUCK_REDIS_PREFIX"] = stack.enter_context(_prefix(redis_url))
        yield env


def missing(
    config: str, database_url: str | None, redis_url: str | None, server_processes: int = 1
) -> str | None:
    """Why ``config`` cannot run here (as ``server_processes`` processes), or None."""
    if server_processes > 1 and config == "memory":
        return "in-memory storage serves from one process"
    if server_processes > 1 and config == "sqlite":
        return "one server process owns a SQLite data directory"
    if "postgres" in config and not postgres_answers(database_url):
        return "no PostgreSQL (set DATABASE_URL or --database-url)"
    if "redis" in config and not redis_answers(redis_url):
        return "no Redis (set REDIS_URL or --redis-url)"
    return None


async def checkpoint(database_url: str) -> str:
    """Have PostgreSQL write out what it holds dirty now (a CHECKPOINT), so that what a
    fill left to write is not written, with its full-page images, during the next
    measurement. Says what it did: the role may not be allowed to."""
    try:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute("CHECKPOINT")
    except psycopg.Error as exc:
        return f"no CHECKPOINT ({str(exc).strip().splitlines()[0]})"
    return "after a CHECKPOINT"
