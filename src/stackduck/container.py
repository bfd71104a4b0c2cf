"""The dependency-injection container: the one place that reads settings and
picks adapters. Nothing is built until a provider is called."""

from __future__ import annotations

from dependency_injector import containers, providers
from pydantic import ValidationError

from stackduck.adapters.clock import SystemClock
from stackduck.adapters.memory import MemoryJobStore, MemoryNotifier, MemoryReadyQueue
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
from stackduck.application.policy import QueuePolicy
from stackduck.application.ready import ReadyPath
from stackduck.domain.retry import RetryPolicy
from stackduck.entrypoints.grpc.server import GrpcServer
from stackduck.entrypoints.grpc.servicer import StackDuckServicer
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
    )

    store = providers.Selector(config.storage, memory=providers.Singleton(MemoryJobStore))
    queue = providers.Selector(config.storage, memory=providers.Singleton(MemoryReadyQueue))
    notifier = providers.Selector(config.storage, memory=providers.Singleton(MemoryNotifier))
    claimer = providers.Selector(config.storage, memory=providers.Singleton(QueueClaimer, queue, store))

    ids = providers.Singleton(JobIds)
    gate = providers.Singleton(Gate)
    consumers = providers.Singleton(ConsumerRegistry)
    ready = providers.Singleton(ReadyPath, queue, notifier, clock)
    reaper = providers.Singleton(LeaseReaper, store, ready, consumers, clock, policy)
    duties = providers.Singleton(Duties, ready, reaper)

    producer = providers.Singleton(Producer, store, ready, clock, ids, policy, gate)
    dispatcher = providers.Singleton(
        Dispatcher, store, claimer, notifier, ready, consumers, reaper.provided.loop, clock, policy, gate
    )
    acks = providers.Singleton(Acks, store, ready, consumers, clock, policy)
    admin = providers.Singleton(Admin, store, ready, clock)

    servicer = providers.Singleton(StackDuckServicer, producer, dispatcher, acks, admin)
    grpc_server = providers.Singleton(
        GrpcServer, servicer, dispatcher, gate, duties, config.listen_address, config.max_payload_bytes
    )


SUPPORTED_STORAGE = ("memory",)


def build_container(settings: Settings | None = None) -> Container:
    if settings is None:
        try:
            settings = Settings()
        except ValidationError as exc:
            raise ConfigurationError(f"invalid settings: {exc}") from exc
    if settings.storage not in SUPPORTED_STORAGE:
        raise ConfigurationError(
            f"storage {settings.storage!r} (from DATABASE_URL / REDIS_URL) is not available in "
            "this version; unset both to run on the in-memory adapters"
        )
    container = Container()
    container.config.from_pydantic(settings)
    return container
