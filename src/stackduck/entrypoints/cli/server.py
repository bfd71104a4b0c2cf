"""`stackduck serve` and `stackduck migrate`: the server side of the command."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from stackduck import __version__
from stackduck.adapters.postgres.migrations import migrate
from stackduck.container import (
    ConfigurationError,
    Container,
    build_container,
    check_settings,
    close_resources,
    provide,
    read_settings,
)
from stackduck.domain.errors import StackduckError, StorageUnavailable
from stackduck.entrypoints import logs
from stackduck.entrypoints.cli.processes import HTTP_OFF, READY, supervise
from stackduck.entrypoints.http.server import HttpServer
from stackduck.settings import Settings

log = logging.getLogger("stackduck")

STORAGE_WARNINGS = {
    "memory": "in-memory storage: nothing is durable; every job is lost when this process stops "
    "(unset STACKDUCK_STORAGE to keep them in a SQLite file, or set DATABASE_URL)",
    "redis": "Redis alone: jobs are as durable as Redis's own persistence (RDB/AOF) makes them; if "
    "Redis loses its data they are gone, and while it is down requests answer UNAVAILABLE "
    "(set DATABASE_URL as well for a durable record and a memory fallback during Redis outages)",
}


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("serve", help="run the gRPC server (the default command)")
    parser.add_argument(
        "--processes",
        type=int,
        help="server processes sharing the gRPC and HTTP ports (STACKDUCK_PROCESSES, default 1); "
        "more than one needs DATABASE_URL and/or REDIS_URL",
    )
    # Set by the supervisor of several processes on each server it starts.
    parser.add_argument("--supervised", type=int, metavar="INDEX", help=argparse.SUPPRESS)
    parser.add_argument("--no-http", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(run=serve)
    commands.add_parser("migrate", help="bring the PostgreSQL schema (DATABASE_URL) up to date").set_defaults(
        run=lambda args: with_container(_migrate)
    )


def serve(args: argparse.Namespace) -> int:
    """One server, or (``--processes N``) a supervisor of N sharing its ports."""
    processes, supervised = getattr(args, "processes", None), getattr(args, "supervised", None)
    try:
        settings = read_settings(**({} if processes is None else {"processes": processes}))
        logs.configure(settings.log_level, settings.log_format, settings.secrets())
        check_settings(settings)
    except ConfigurationError as exc:
        log.error("%s", exc)
        return 2
    if supervised is None and settings.processes > 1:
        if settings.storage in STORAGE_WARNINGS:
            log.warning("%s", STORAGE_WARNINGS[settings.storage])
        return supervise(settings)
    shared, http = supervised is not None, not getattr(args, "no_http", False)
    return with_container(partial(_serve, supervised=supervised, http_on=http), settings, shared_ports=shared)


def with_container(
    command: Callable[[Container], Coroutine[Any, Any, int]],
    settings: Settings | None = None,
    shared_ports: bool = False,
) -> int:
    """Build the container from the settings, then run ``command`` with it. The log masks
    the settings' secrets from the start: a start-up error may quote them."""
    try:
        if settings is None:
            settings = read_settings()
            logs.configure(settings.log_level, settings.log_format, settings.secrets())
        container = build_container(settings, shared_ports=shared_ports)
    except ConfigurationError as exc:
        log.error("%s", exc)
        return 2
    return asyncio.run(command(container))


def _failure(exc: Exception) -> str:
    """What went wrong, in one line for the log (which masks credentials): the driver's
    account too for storage, the traceback only at DEBUG."""
    log.debug("the failure in full", exc_info=exc)
    if isinstance(exc, StorageUnavailable):
        return exc.for_log()
    return str(exc) if isinstance(exc, StackduckError | OSError) else f"{type(exc).__name__}: {exc}"


async def _migrate(container: Container) -> int:
    url = container.config.database_url()
    if not url:
        log.error(
            "DATABASE_URL is not set: there is no PostgreSQL database to migrate "
            "(a SQLite data directory is migrated by the server as it opens it)"
        )
        return 2
    try:
        applied = await migrate(url)
    except Exception as exc:
        log.error("cannot migrate: %s", _failure(exc))
        return 1
    names = ", ".join(m.label for m in applied) or "none (already up to date)"
    log.warning("migrations applied: %s", names)
    return 0


def _say_ready(stop: asyncio.Event) -> None:
    """Tell the supervisor this server serves (the line it waits for on our standard
    output), then send anything later written there to the log's stream instead: nobody
    reads the pipe after that line, and a full pipe would block the server."""
    try:
        sys.stdout.buffer.write(READY)
        sys.stdout.flush()
    except BrokenPipeError:  # the supervisor is gone already
        stop.set()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def _stop_when_orphaned(stop: asyncio.Event) -> None:
    """Stop when the supervisor is gone, however it went: it holds the other end of this
    process's standard input, which reads as closed once it dies."""
    loop, stdin = asyncio.get_running_loop(), sys.stdin.fileno()

    def readable() -> None:
        if not os.read(stdin, 4096):
            loop.remove_reader(stdin)
            log.warning("the supervisor is gone: stopping")
            stop.set()

    loop.add_reader(stdin, readable)


async def _start_http(container: Container, http: HttpServer) -> HttpServer | None:
    """The HTTP server, serving; None when HTTP_ADDR was not set and the default address
    is taken (another server on this host): then this one serves gRPC alone."""
    try:
        await http.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or not container.config.http_optional():
            raise
        await http.stop()
        log.warning(HTTP_OFF, container.config.http_address())
        return None
    return http


async def _serve(container: Container, supervised: int | None = None, http_on: bool = True) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if supervised is not None:
        _stop_when_orphaned(stop)
    try:
        server = await provide(container.grpc_server)
        http_server = await provide(container.http_server)
        await server.start()
    except Exception as exc:  # storage away, a port taken, a driver refusing its settings
        log.error("cannot start: %s", _failure(exc))
        await close_resources(container)
        return 1
    try:
        http = await _start_http(container, http_server) if http_on else None
    except OSError as exc:
        log.error("cannot start the HTTP server on %s: %s", container.config.http_address(), exc)
        await server.stop(0)
        await close_resources(container)
        return 1
    storage = container.config.storage()
    if supervised is None:
        log.info("stackduck %s serving on %s with %s storage", __version__, server.address, storage)
        if http is not None:
            log.info("metrics, health and the dashboard on %s", http.url)
        if storage in STORAGE_WARNINGS:
            log.warning("%s", STORAGE_WARNINGS[storage])
    else:  # one of several: the supervisor logs the address and the storage warning, once
        log.info("server process %d (pid %d) serving on %s", supervised, os.getpid(), server.address)
        _say_ready(stop)
    await stop.wait()
    grace = container.config.shutdown_grace_seconds()
    log.info("stopping: finishing in-flight work (up to %.0f s)", grace)
    await server.stop(grace)
    if http is not None:
        await http.stop()
    await close_resources(container)
    log.info("stopped")
    return 0
