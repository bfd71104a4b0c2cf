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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Service:
    name: str
    env_var: str
    local_url: str
    answers: Callable[[str], bool]
    container: Callable[[], contextlib.AbstractContextManager[str]]


@contextlib.contextmanager
def _postgres_container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as container:
        yield container.get_connection_url()


@contextlib.contextmanager
def _redis_container() -> Iterator[str]:
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7-alpine") as container:
        yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"


POSTGRES = Service("PostgreSQL", "STACKDUCK_TEST_DATABASE_URL", LOCAL_POSTGRES, _answers, _postgres_container)
REDIS = Service("Redis", "STACKDUCK_TEST_REDIS_URL", LOCAL_REDIS, _redis_answers, _redis_container)


@contextlib.contextmanager
def service_url(service: Service) -> Iterator[str]:
    """A URL of the service, found in the documented order."""
    url = os.environ.get(service.env_var)
    if url:
        yield url
    elif _docker_answers():
        with service.container() as url:
            yield url
    elif service.answers(service.local_url):
        yield service.local_url
    else:
        unavailable(service.name, f"no {service.env_var}, no Docker engine, nothing at {service.local_url}")
