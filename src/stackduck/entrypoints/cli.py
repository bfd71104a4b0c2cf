"""The ``stackduck`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from stackduck import __version__
from stackduck.container import ConfigurationError, Container, build_container

log = logging.getLogger("stackduck")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stackduck", description="Stackduck job-queue server")
    parser.add_argument("--version", action="version", version=f"stackduck {__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the gRPC server (the default command)")
    args = parser.parse_args(argv)
    if args.command in (None, "serve"):
        return serve()
    parser.error(f"unknown command {args.command}")  # pragma: no cover - argparse exits first
    return 2


def serve() -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        container = build_container()
    except ConfigurationError as exc:
        log.error("%s", exc)
        return 2
    logging.getLogger().setLevel(container.config.log_level())
    return asyncio.run(_serve(container))


async def _serve(container: Container) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = container.grpc_server()
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    storage = container.config.storage()
    log.info("stackduck %s serving on %s with %s storage", __version__, server.address, storage)
    await stop.wait()
    grace = container.config.shutdown_grace_seconds()
    log.info("stopping: finishing in-flight work (up to %.0f s)", grace)
    await server.stop(grace)
    log.info("stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
