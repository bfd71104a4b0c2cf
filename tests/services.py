"""Finding the services integration tests need, in a fixed order:

1. a URL in STACKDUCK_TEST_DATABASE_URL (PostgreSQL) or STACKDUCK_TEST_REDIS_URL (Redis);
2. a throwaway container through testcontainers, when a Docker engine answers;
3. the server on 127.0.0.1:5432 (PostgreSQL) or 127.0.0.1:6379 (Redis), when one answers;
4. otherwise the test is skipped with the reason, or fails when
   STACKDUCK_REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

import psycopg
import pytest
import redis

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def required() -> bool:
    return os.environ.get("STACKDUCK_REQUIRE_SERVICES") == "1"


def unavailable(what: str, why: str) -> None:
    message = f"{what} is not available: {why}"
    if required():
        pytest.fail(f"{message} (STACKDUCK_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _docker_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):  # look before asking the client, which leaks its socket on failure
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            try:
                sock.connect(host.removeprefix("unix://"))
            except OSError:
                return False
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A URL of a Postgres server where tests may create and drop databases."""
    url = os.environ.get("STACKDUCK_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    if _answers(LOCAL_POSTGRES):
        yield LOCAL_POSTGRES
        return
    unavailable("PostgreSQL", "no STACKDUCK_TEST_DATABASE_URL, no Docker engine, nothing on 127.0.0.1:5432")


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """A URL of a Redis server tests may use (each under its own key prefix)."""
    url = os.environ.get("STACKDUCK_TEST_REDIS_URL")
    if url:
        yield url
        return
    if _docker_answers():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    if _redis_answers(LOCAL_REDIS):
        yield LOCAL_REDIS
        return
    unavailable("Redis", "no STACKDUCK_TEST_REDIS_URL, no Docker engine, nothing on 127.0.0.1:6379")
