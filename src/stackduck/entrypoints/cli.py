"""The ``stackduck`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from stackduck import __version__
from stackduck.adapters.postgres.migrations import migrate
from stackduck.container import ConfigurationError, Container, build_container, close_resources, provide
from stackduck.domain.errors import StackduckError, StorageUnavailable

log = logging.getLogger("stackduck")

STORAGE_WARNINGS = {
    "memory": "in-memory storage: nothing is durable; every job is lost when this process stops "
    "(set DATABASE_URL to keep them)",
    "redis": "Redis alone: jobs are as durable as Redis's own persistence (RDB/AOF) makes them; if "
    "Redis loses its data they are gone, and while it is down requests answer UNAVAILABLE "
    "(set DATABASE_URL as well for a durable record and a memory fallback during Redis outages)",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stackduck", description="Stackduck job-queue server")
    parser.add_argument("--version", action="version", version=f"stackduck {__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the gRPC server (the default command)")
    commands.add_parser("migrate", help="bring the PostgreSQL schema (DATABASE_URL) up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        container = build_container()
    except ConfigurationError as exc:
        log.error("%s", exc)
        return 2
    logging.getLogger().setLevel(container.config.log_level())
    if args.command == "migrate":
        return asyncio.run(_migrate(container))
    return asyncio.run(_serve(container))


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
        await server.start()
    except (OSError, StackduckError) as exc:
        log.error("cannot start: %s", exc)
        await close_resources(container)
        return 1
    storage = container.config.storage()
    log.info("stackduck %s serving on %s with %s storage", __version__, server.address, storage)
    if storage in STORAGE_WARNINGS:
        log.warning("%s", STORAGE_WARNINGS[storage])
    await stop.wait()
    grace = container.config.shutdown_grace_seconds()
    log.info("stopping: finishing in-flight work (up to %.0f s)", grace)
    await server.stop(grace)
    await close_resources(container)
    log.info("stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
