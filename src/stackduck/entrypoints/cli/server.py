"""`stackduck serve` and `stackduck migrate`: the server side of the command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from stackduck import __version__
from stackduck.adapters.postgres.migrations import migrate
from stackduck.container import ConfigurationError, Container, build_container, close_resources, provide
from stackduck.domain.errors import StackduckError, StorageUnavailable
from stackduck.entrypoints import logs

log = logging.getLogger("stackduck")

STORAGE_WARNINGS = {
    "memory": "in-memory storage: nothing is durable; every job is lost when this process stops "
    "(set DATABASE_URL to keep them)",
    "redis": "Redis alone: jobs are as durable as Redis's own persistence (RDB/AOF) makes them; if "
    "Redis loses its data they are gone, and while it is down requests answer UNAVAILABLE "
    "(set DATABASE_URL as well for a durable record and a memory fallback during Redis outages)",
}


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser("serve", help="run the gRPC server (the default command)").set_defaults(
        run=lambda args: with_container(_serve)
    )
    commands.add_parser("migrate", help="bring the PostgreSQL schema (DATABASE_URL) up to date").set_defaults(
        run=lambda args: with_container(_migrate)
    )


def serve(args: argparse.Namespace) -> int:
    return with_container(_serve)


def with_container(command: Callable[[Container], Coroutine[Any, Any, int]]) -> int:
    """Build the container from the settings, then run ``command`` with it."""
    try:
        container = build_container()
    except ConfigurationError as exc:
        log.error("%s", exc)
        return 2
    logs.configure(container.config.log_level(), container.config.log_format())
    return asyncio.run(command(container))


async def _migrate(container: Container) -> int:
    url = container.config.database_url()
    if not url:
        log.error("DATABASE_URL is not set: there is no database to migrate")
        return 2
    try:
        applied = await migrate(url)
    except StorageUnavailable as exc:
        log.error("%s", exc)
        return 1
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "none (already up to date)"
    log.warning("migrations applied: %s", names)
    return 0


async def _serve(container: Container) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        server = await provide(container.grpc_server)
        http = await provide(container.http_server)
        await server.start()
    except (OSError, StackduckError) as exc:
        log.error("cannot start: %s", exc)
        await close_resources(container)
        return 1
    try:
        await http.start()
    except OSError as exc:
        log.error("cannot start the HTTP server on %s: %s", container.config.http_addr(), exc)
        await server.stop(0)
        await close_resources(container)
        return 1
    storage = container.config.storage()
    log.info("stackduck %s serving on %s with %s storage", __version__, server.address, storage)
    log.info("metrics, health and the dashboard on %s", http.url)
    if storage in STORAGE_WARNINGS:
        log.warning("%s", STORAGE_WARNINGS[storage])
    await stop.wait()
    grace = container.config.shutdown_grace_seconds()
    log.info("stopping: finishing in-flight work (up to %.0f s)", grace)
    await server.stop(grace)
    await http.stop()
    await close_resources(container)
    log.info("stopped")
    return 0
