"""The dependency-injection container: the one place that reads settings and
picks adapters (one storage backend, adapters/backends/). Nothing is built until a
provider is called."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dependency_injector import containers, providers
from pydantic import ValidationError

from stackduck.adapters.backends import (
    MemoryBackend,
    PostgresBackend,
    RedisBackend,
    RedisPostgresBackend,
    SqliteBackend,
)
from stackduck.adapters.clock import SystemClock
from stackduck.adapters.postgres.pool import check_conninfo
from stackduck.adapters.prometheus import PrometheusMetrics, PrometheusPage
from stackduck.adapters.reconcile import SweepPace
from stackduck.adapters.redis.client import check_redis_url
from stackduck.application.acks import Acks
from stackduck.application.bulk import BulkActions
from stackduck.application.claims import Claims
from stackduck.application.consumers import ConsumerRegistry
from stackduck.application.fan_out import MetricsFanOut
from stackduck.application.gate import Gate
from stackduck.application.handoff import DirectHandoff
from stackduck.application.history import History
from stackduck.application.ids import JobIds
from stackduck.application.job_admin import JobAdmin
from stackduck.application.leases import LeaseReaper
from stackduck.application.limits import Limits
from stackduck.application.maintenance import Maintenance
from stackduck.application.paused_types import PausedTypes
from stackduck.application.policy import QueuePolicy
from stackduck.application.producer import Producer
from stackduck.application.queue_admin import QueueAdmin
from stackduck.application.ready_path import ReadyPath
from stackduck.application.retention import Retention
from stackduck.application.schedules import Schedules
from stackduck.application.shared_stats import SharedStats
from stackduck.application.streams import Streams
from stackduck.application.watches import Watches
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
        job_timeout_seconds=config.job_timeout_seconds,
        idempotency_seconds=config.idempotency_seconds,
        max_watch_streams=config.max_watch_streams,
    )
    prometheus = providers.Singleton(PrometheusMetrics, config.shared_ports)

    # -- the storage: one backend, by the configuration the settings name ------------------
    backend = providers.Selector(
        config.storage,
        memory=providers.Singleton(MemoryBackend, clock),
        postgres=providers.Resource(
            PostgresBackend.open, config.database_url, config.database_pool_size, clock
        ),
        redis=providers.Resource(
            RedisBackend.open, config.redis_url, config.redis_pool_size, config.redis_prefix, clock
        ),
        sqlite=providers.Resource(SqliteBackend.open, config.data_dir, config.sqlite_synchronous, clock),
        **{
            "redis+postgres": providers.Resource(
                RedisPostgresBackend.open,
                config.database_url,
                config.database_pool_size,
                config.redis_url,
                config.redis_pool_size,
                config.redis_prefix,
                providers.Singleton(
                    SweepPace, config.redis_reconcile_seconds, config.redis_reconcile_jobs_per_second
                ),
                clock,
            )
        },
    )
    # Its ports, as the use-cases take them (application/backend.py).
    store = backend.provided.store
    claimer = backend.provided.claimer
    queue = backend.provided.queue
    schedule = backend.provided.schedule
    notifier = backend.provided.notifier
    signals = backend.provided.signals
    paused_types_store = backend.provided.paused_types
    storage_health = backend.provided.health
    schedule_store = backend.provided.schedules
    limit_store = backend.provided.limits
    history_store = backend.provided.history

    # -- what happened, counted for /metrics and for the dashboard's charts ---------------
    shared_stats = providers.Singleton(SharedStats, store, clock)
    history = providers.Singleton(History, history_store, shared_stats, clock)
    metrics = providers.Singleton(MetricsFanOut, prometheus, history)

    # -- the use-cases -------------------------------------------------------------------
    ids = providers.Singleton(JobIds)
    gate = providers.Singleton(Gate)
    consumers = providers.Singleton(ConsumerRegistry, metrics, signals)
    limits = providers.Singleton(Limits, limit_store, notifier, clock)
    ready = providers.Singleton(ReadyPath, schedule, queue, notifier, clock, limits)
    paused_types = providers.Singleton(PausedTypes, paused_types_store, ready, clock)
    reaper = providers.Singleton(LeaseReaper, store, ready, consumers, signals, metrics, clock, policy)
    retention = providers.Singleton(Retention, store, clock, policy)
    schedules = providers.Singleton(Schedules, schedule_store, ready, clock, ids, policy, gate, metrics)
    maintenance = providers.Singleton(Maintenance, ready, reaper, retention, schedules, history)

    claims = providers.Singleton(
        Claims,
        store,
        claimer,
        ready,
        reaper.provided.loop,
        paused_types,
        limits,
        signals,
        metrics,
        clock,
        policy,
        gate,
    )
    handoff = providers.Singleton(DirectHandoff, consumers, claims, paused_types, limits, clock, policy, gate)
    streams = providers.Singleton(
        Streams, claims, consumers, notifier, store, paused_types, clock, policy, gate
    )
    producer = providers.Singleton(Producer, store, ready, handoff, clock, ids, policy, gate, metrics)
    acks = providers.Singleton(Acks, store, ready, consumers, signals, metrics, clock, policy)
    job_admin = providers.Singleton(JobAdmin, store, ready, signals, clock)
    bulk = providers.Singleton(BulkActions, job_admin, store, clock)
    watches = providers.Singleton(Watches, store, signals, gate, policy)
    queue_admin = providers.Singleton(QueueAdmin, store, job_admin, paused_types, consumers, shared_stats)

    # -- the entrypoints -----------------------------------------------------------------
    servicer = providers.Singleton(
        StackDuckServicer,
        producer,
        claims,
        streams,
        acks,
        job_admin,
        queue_admin,
        watches,
        schedules,
        limits,
        providers.Callable(message_limit, config.max_payload_bytes),
    )
    health_reporter = providers.Singleton(HealthReporter, storage_health, gate)
    grpc_server = providers.Singleton(
        GrpcServer,
        servicer,
        streams,
        gate,
        maintenance,
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
    prometheus_page = providers.Singleton(PrometheusPage, prometheus, queue_admin, storage_health)
    http_server = providers.Singleton(
        HttpServer,
        providers.Singleton(
            build_app,
            producer,
            job_admin,
            bulk,
            queue_admin,
            schedules,
            limits,
            history,
            prometheus_page,
            storage_health,
            gate,
            config.auth_token_value,
            config.readonly_token_value,
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


SUPPORTED_STORAGE = ("memory", "postgres", "redis", "redis+postgres", "sqlite")


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
            "this version; unset both to keep the jobs in a SQLite file (STACKDUCK_DATA_DIR)"
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
    container.config.readonly_token_value.from_value(settings.readonly())
    container.config.shared_ports.from_value(shared_ports)
    return container
