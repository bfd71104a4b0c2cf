"""The dependency-injection container: the one place that reads settings and
picks adapters. Nothing is built until a provider is called."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dependency_injector import containers, providers
from pydantic import ValidationError

from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.adapters.clock import SystemClock
from stackduck.adapters.failover import FailoverReadyQueue, run_broadcast, run_failover, run_seeded
from stackduck.adapters.health import (
    FailoverHealth,
    MemoryHealth,
    RedisHealth,
    TiersHealth,
    open_postgres_health,
)
from stackduck.adapters.memory import MemoryJobStore, MemoryNotifier, MemoryReadyQueue, MemorySwitches
from stackduck.adapters.postgres.claimer import PostgresClaimer
from stackduck.adapters.postgres.notifier import PostgresChannel
from stackduck.adapters.postgres.pool import check_conninfo, open_pool
from stackduck.adapters.postgres.ready import PostgresReadyIndex
from stackduck.adapters.postgres.store import PostgresJobStore
from stackduck.adapters.postgres.switches import PostgresSwitches
from stackduck.adapters.prometheus import PrometheusMetrics, PrometheusPage
from stackduck.adapters.reconcile import SweepPace
from stackduck.adapters.redis.channel import RedisChannel
from stackduck.adapters.redis.claimer import RedisClaimer
from stackduck.adapters.redis.client import check_redis_url, open_client
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.queue import RedisReadyQueue, StoreKeptQueue
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.adapters.redis.switches import RedisSwitches
from stackduck.application.acks import Acks
from stackduck.application.admin import Admin
from stackduck.application.claiming import QueueClaimer
from stackduck.application.consumers import ConsumerRegistry
from stackduck.application.dispatch import Dispatcher
from stackduck.application.duties import Duties
from stackduck.application.enqueue import Producer
from stackduck.application.gate import Gate
from stackduck.application.ids import JobIds
from stackduck.application.leases import LeaseReaper
from stackduck.application.operations import Operations
from stackduck.application.pauses import Pauses
from stackduck.application.policy import QueuePolicy
from stackduck.application.ready import ReadyPath
from stackduck.application.retention import Retention
from stackduck.domain.retry import RetryPolicy
from stackduck.entrypoints.grpc.health import HealthReporter
from stackduck.entrypoints.grpc.server import GrpcServer, Listen, message_limit
from stackduck.entrypoints.grpc.servicer import StackDuckServicer
from stackduck.entrypoints.http.app import build_app
from stackduck.entrypoints.http.server import HttpServer
from stackduck.redact import masked
from stackduck.settings import Settings


class ConfigurationError(RuntimeError):
    """The settings are invalid, or ask for what this build cannot serve."""


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    clock = providers.Singleton(SystemClock)
    policy = providers.Singleton(
        QueuePolicy,
        lease_seconds=config.lease_seconds,
        max_payload_bytes=config.max_payload_bytes,
        retry=providers.Singleton(RetryPolicy, jitter=config.retry_jitter),
        max_streams_per_client=config.max_streams_per_client,
        completed_retention_seconds=config.completed_retention_seconds,
        dead_retention_seconds=config.dead_retention_seconds,
    )
    metrics = providers.Singleton(PrometheusMetrics, config.shared_ports)

    # -- the technologies, opened only when the storage configuration asks for them --
    postgres_pool = providers.Resource(open_pool, config.database_url, config.database_pool_size)
    postgres_notifier = providers.Resource(
        run_broadcast,
        providers.Singleton(
            BroadcastNotifier, providers.Singleton(PostgresChannel, postgres_pool, config.database_url)
        ),
    )
    postgres_store = providers.Singleton(PostgresJobStore, postgres_pool)

    redis_client = providers.Resource(open_client, config.redis_url, config.redis_pool_size)
    redis_keys = providers.Singleton(Keys, config.redis_prefix)
    redis_queue = providers.Singleton(RedisReadyQueue, redis_client, redis_keys)
    redis_notifier = providers.Resource(
        run_broadcast,
        providers.Singleton(
            BroadcastNotifier, providers.Singleton(RedisChannel, redis_client, redis_keys.provided.channel)
        ),
    )
    memory_queue = providers.Singleton(MemoryReadyQueue)

    # -- the ports, by storage configuration -------------------------------------------
    store = providers.Selector(
        config.storage,
        memory=providers.Singleton(MemoryJobStore),
        postgres=postgres_store,
        redis=providers.Singleton(RedisJobStore, redis_client, redis_keys),
        **{"redis+postgres": postgres_store},
    )
    queue = providers.Selector(
        config.storage,
        memory=memory_queue,
        redis=providers.Resource(run_seeded, redis_queue, store, clock),
        **{
            "redis+postgres": providers.Resource(
                run_failover,
                providers.Singleton(
                    FailoverReadyQueue,
                    redis_queue,
                    store,
                    clock,
                    redis_notifier,
                    providers.Singleton(
                        SweepPace, config.redis_reconcile_seconds, config.redis_reconcile_jobs_per_second
                    ),
                ),
            )
        },
    )
    notifier = providers.Selector(
        config.storage,
        memory=providers.Singleton(MemoryNotifier),
        postgres=postgres_notifier,
        redis=redis_notifier,
        **{"redis+postgres": redis_notifier},
    )
    queue_claimer = providers.Singleton(QueueClaimer, queue, store, clock, notifier)
    claimer = providers.Selector(
        config.storage,
        memory=queue_claimer,
        postgres=providers.Singleton(PostgresClaimer, postgres_pool, notifier),
        redis=providers.Singleton(RedisClaimer, redis_client, redis_keys),
        **{"redis+postgres": queue_claimer},
    )
    ready_index = providers.Selector(
        config.storage,
        memory=queue,
        postgres=providers.Singleton(PostgresReadyIndex, postgres_pool, clock.provided.now.call()),
        redis=providers.Singleton(StoreKeptQueue, queue),
        **{"redis+postgres": queue},
    )

    postgres_switches = providers.Singleton(PostgresSwitches, postgres_pool)
    switches = providers.Selector(
        config.storage,
        memory=providers.Singleton(MemorySwitches),
        postgres=postgres_switches,
        redis=providers.Singleton(RedisSwitches, redis_client, redis_keys),
        **{"redis+postgres": postgres_switches},
    )
    postgres_health = providers.Resource(open_postgres_health, config.database_url)
    storage_health = providers.Selector(
        config.storage,
        memory=providers.Singleton(MemoryHealth),
        postgres=postgres_health,
        redis=providers.Singleton(RedisHealth, redis_queue),
        **{
            "redis+postgres": providers.Singleton(
                TiersHealth,
                providers.List(
                    postgres_health,
                    providers.Singleton(FailoverHealth, queue),
                ),
            )
        },
    )

    # -- the use-cases -------------------------------------------------------------------
    ids = providers.Singleton(JobIds)
    gate = providers.Singleton(Gate)
    consumers = providers.Singleton(ConsumerRegistry, metrics)
    ready = providers.Singleton(ReadyPath, ready_index, notifier, clock)
    pauses = providers.Singleton(Pauses, switches, ready, clock)
    reaper = providers.Singleton(LeaseReaper, store, ready, consumers, metrics, clock, policy)
    retention = providers.Singleton(Retention, store, clock, policy)
    duties = providers.Singleton(Duties, ready, reaper, retention)

    dispatcher = providers.Singleton(
        Dispatcher,
        store,
        claimer,
        notifier,
        ready,
        consumers,
        reaper.provided.loop,
        pauses,
        metrics,
        clock,
        policy,
        gate,
    )
    producer = providers.Singleton(Producer, store, ready, dispatcher, clock, ids, policy, gate, metrics)
    acks = providers.Singleton(Acks, store, ready, consumers, metrics, clock, policy)
    admin = providers.Singleton(Admin, store, ready, clock)
    operations = providers.Singleton(Operations, store, admin, pauses, consumers, clock)

    # -- the entrypoints -----------------------------------------------------------------
    servicer = providers.Singleton(
        StackDuckServicer,
        producer,
        dispatcher,
        acks,
        admin,
        operations,
        providers.Callable(message_limit, config.max_payload_bytes),
    )
    health_reporter = providers.Singleton(HealthReporter, storage_health, gate)
    grpc_server = providers.Singleton(
        GrpcServer,
        servicer,
        dispatcher,
        gate,
        duties,
        health_reporter,
        providers.Singleton(
            Listen,
            config.listen_address,
            config.max_payload_bytes,
            config.max_concurrent_rpcs,
            config.auth_token_value,
            config.tls_cert,
            config.tls_key,
            config.shared_ports,
        ),
    )
    prometheus_page = providers.Singleton(PrometheusPage, metrics, operations, storage_health)
    http_server = providers.Singleton(
        HttpServer,
        providers.Singleton(
            build_app, admin, operations, prometheus_page, storage_health, gate, config.auth_token_value
        ),
        config.http_address,
        config.tls_cert,
        config.tls_key,
        config.shared_ports,
    )


T = TypeVar("T")


async def provide(provider: Callable[[], T | Awaitable[T]]) -> T:
    """Build what a provider gives; opens the resources (pools, listeners) it needs."""
    built = provider()
    return await built if inspect.isawaitable(built) else built


async def close_resources(container: Container) -> None:
    """Close every resource the container opened, in reverse order."""
    closing = container.shutdown_resources()
    if inspect.isawaitable(closing):
        await closing


SUPPORTED_STORAGE = ("memory", "postgres", "redis", "redis+postgres")


def read_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and .env), ``overrides`` on top."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # Each problem by the variable it concerns, never with the value given (a URL
        # holds a password, a token is a secret).
        problems = "; ".join(_problem(error["loc"], error["msg"]) for error in exc.errors())
        raise ConfigurationError(f"invalid settings: {masked(problems)}") from None


def _problem(where: tuple[int | str, ...], message: str) -> str:
    message = message.removeprefix("Value error, ")
    return f"{'.'.join(map(str, where))}: {message}" if where else message


def check_settings(settings: Settings) -> None:
    """Raise ConfigurationError for settings this build cannot serve with: a storage it
    lacks, a URL its driver cannot read (the message masks its credentials)."""
    if settings.storage not in SUPPORTED_STORAGE:
        raise ConfigurationError(
            f"storage {settings.storage!r} (from DATABASE_URL / REDIS_URL) is not available in "
            "this version; unset both to run on the in-memory adapters"
        )
    for name, url, check in (
        ("DATABASE_URL", settings.database_url, check_conninfo),
        ("REDIS_URL", settings.redis_url, check_redis_url),
    ):
        if not url:  # unset, or set to nothing: no such storage
            continue
        try:
            check(url.get_secret_value())
        except ValueError as exc:
            raise ConfigurationError(
                f"{name} cannot be read: {masked(str(exc), settings.secrets())}"
            ) from None


def build_container(settings: Settings | None = None, shared_ports: bool = False) -> Container:
    """The server's object graph; ``shared_ports`` when it is one of several processes
    on the same ports (``stackduck serve --processes N``)."""
    if settings is None:
        settings = read_settings()
    check_settings(settings)
    container = Container()
    container.config.from_pydantic(settings)
    # The secrets, unwrapped here only: what the adapters are given.
    for key, secret in (("database_url", settings.database_url), ("redis_url", settings.redis_url)):
        container.config[key].from_value(None if secret is None else secret.get_secret_value())
    container.config.auth_token_value.from_value(settings.token())
    container.config.shared_ports.from_value(shared_ports)
    return container
