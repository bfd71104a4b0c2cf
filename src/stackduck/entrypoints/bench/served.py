"""Where the benchmarked server runs: inside the bench's process, or as ``stackduck
serve --processes N`` in processes of its own, as an operator would run it."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from stackduck.container import build_container, close_resources, provide
from stackduck.entrypoints.bench.runner import ProcessTree, ServerMeter, ThisProcess
from stackduck.settings import Settings

#: Variables of the bench's own environment that would change what the server serves.
_SERVER_VARIABLES = (
    "DATABASE_URL",
    "STACKDUCK_DATABASE_URL",
    "REDIS_URL",
    "STACKDUCK_REDIS_URL",
    "SERVER_ADDR",
    "STACKDUCK_SERVER_ADDR",
    "GRPC_PORT",
    "HTTP_ADDR",
    "STACKDUCK_HTTP_ADDR",
    "STACKDUCK_PROCESSES",
    "STACKDUCK_STORAGE",
    "STACKDUCK_DATA_DIR",
    "PROMETHEUS_MULTIPROC_DIR",
)
START_SECONDS = 60.0
STOP_SECONDS = 30.0


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], processes: int = 1) -> AsyncIterator[tuple[str, ServerMeter]]:
    """A server on storage ``env``: its address, and what reads its CPU and memory.
    One process: inside the bench's; more: ``stackduck serve --processes N``."""
    if processes > 1:
        async with server_processes(processes, env) as (address, tree):
            yield address, tree
        return
    # Storage from ``env`` alone, not from the bench's own DATABASE_URL / REDIS_URL.
    values: dict[str, Any] = {
        "DATABASE_URL": None,
        "REDIS_URL": None,
        "STACKDUCK_STORAGE": None,
        "SERVER_ADDR": "127.0.0.1:0",
        "HTTP_ADDR": "127.0.0.1:0",
        **env,
    }
    container = build_container(Settings(**values))
    try:
        server = await provide(container.grpc_server)
        await server.start()
        try:
            metrics = await provide(container.prometheus)
            yield server.address, ThisProcess(metrics.registry)
        finally:
            await server.stop(1)
    finally:
        await close_resources(container)


@contextlib.asynccontextmanager
async def server_processes(count: int, env: dict[str, str]) -> AsyncIterator[tuple[str, ProcessTree]]:
    """``stackduck serve --processes count`` on storage ``env``: its address and its processes."""
    settings = {k: v for k, v in os.environ.items() if k not in _SERVER_VARIABLES}
    # Empty rather than absent, so that a .env file in the working directory cannot
    # add storage either (the environment wins over it).
    ports = {"SERVER_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0"}
    settings.update({"DATABASE_URL": "", "REDIS_URL": "", **ports, **env})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stackduck",
        "serve",
        "--processes",
        str(count),
        env=settings,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log: collections.deque[str] = collections.deque(maxlen=40)
    try:
        address, http = await asyncio.wait_for(_addresses(process.stderr, log, count), START_SECONDS)
    except (TimeoutError, EOFError):
        process.kill()
        await process.wait()
        raise RuntimeError("the server processes did not start:\n" + "".join(log)) from None
    draining = asyncio.create_task(_drain(process.stderr, log))
    try:
        yield address, ProcessTree(process.pid, f"http://{http}/metrics")
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
        await draining


async def _addresses(
    stderr: asyncio.StreamReader, log: collections.deque[str], count: int
) -> tuple[str, str]:
    """Where the processes serve gRPC, and HTTP (the dashboard, /metrics)."""
    grpc_address = http_address = ""
    while not (grpc_address and http_address):
        line = (await stderr.readline()).decode(errors="replace")
        if not line:
            raise EOFError
        log.append(line)
        if found := re.search(rf"serving on (\S+) with .* in {count} processes", line):
            grpc_address = found.group(1)
        if found := re.search(r"dashboard on http://(\S+?)/?(?:\s|$)", line):
            http_address = found.group(1)
    return grpc_address, http_address


async def _drain(stderr: asyncio.StreamReader, log: collections.deque[str]) -> None:
    """Keep reading the servers' log (a full pipe would stop them), the last lines kept."""
    while line := await stderr.readline():
        log.append(line.decode(errors="replace"))
