"""A real Stackduck server on a free port, and a real gRPC client talking to it.

Every test that uses ``server`` or ``start_server`` runs once per storage
configuration: memory, Postgres (the run's throwaway database), Redis (a key
prefix of the test's own), and Redis over Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from stackduck.container import Container, build_container, close_resources, provide
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from stackduck.entrypoints.grpc.server import GrpcServer
from stackduck.entrypoints.http.server import HttpServer
from stackduck.settings import Settings
from tests.conftest import STORAGES, storage_env
from tests.leaks import Secrets


@dataclass
class Running:
    container: Container
    server: GrpcServer
    http: HttpServer
    address: str
    stub: StackDuckServiceStub
    channel: grpc.aio.Channel

    async def enqueue(self, job_type: str = "email", payload: str = "{}", **fields: Any) -> str:
        reply = await self.stub.EnqueueJob(pb.EnqueueJobRequest(job_type=job_type, payload=payload, **fields))
        assert reply.success
        return str(reply.job_id)

    async def job(self, job_id: str) -> pb.Job:
        return await self.stub.GetJob(pb.GetJobRequest(job_id=job_id))

    async def counts(self) -> dict[str, int]:
        admin = await provide(self.container.job_admin)
        return await admin.counts()


ServerFactory = Callable[..., Any]


@pytest.fixture(params=STORAGES)
def storage_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    return storage_env(request, request.param)


@pytest.fixture
async def start_server(
    storage_settings: dict[str, str], configured_secrets: Secrets
) -> AsyncIterator[ServerFactory]:
    started: list[Running] = []

    async def start(configure: Callable[[Container], None] | None = None, **settings: Any) -> Running:
        """A server with these settings; ``configure`` may override the container's
        providers (its clock, say) before anything is built."""
        values = {"SERVER_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0", **storage_settings, **settings}
        configured_secrets.add_settings(values)
        container = build_container(Settings(**values))
        if configure is not None:
            configure(container)
        server = await provide(container.grpc_server)
        http = await provide(container.http_server)
        await server.start()
        await http.start()
        channel = grpc.aio.insecure_channel(server.address)
        running = Running(container, server, http, server.address, StackDuckServiceStub(channel), channel)
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        await running.channel.close()
        await running.server.stop(0)
        await running.http.stop()
        await close_resources(running.container)


@pytest.fixture
async def server(start_server: ServerFactory) -> Running:
    running: Running = await start_server()
    return running


STACKDUCK = str(Path(sys.executable).parent / "stackduck")


@dataclass
class Served:
    """``stackduck`` run as a real process, its log read line by line."""

    process: subprocess.Popen[str]
    address: str
    transcript: list[str] = field(default_factory=list)  # what was read of its log

    def wait_for_line(self, words: str, timeout: float = 20) -> str:
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            self.transcript.append(line)
            if words in line:
                return line
            if not line and self.process.poll() is not None:
                break
        raise AssertionError(f"never logged {words!r}")

    def log(self, timeout: float | None = None) -> str:
        """Its whole log: what was read, then the rest until the process (and any child
        holding its standard error) is gone, or ``timeout`` seconds."""
        assert self.process.stderr is not None
        stderr = self.process.stderr

        def read() -> None:
            with contextlib.suppress(ValueError, OSError):  # closed meanwhile
                self.transcript.append(stderr.read())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        return "".join(self.transcript)

    async def started(self) -> str:
        return await asyncio.to_thread(self.wait_for_line, "serving on")

    async def exit_code(self) -> int:
        return await asyncio.to_thread(self.process.wait, 30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(configured_secrets: Secrets, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Starts ``stackduck ARGS`` (or ``program ARGS``) with ``ENV`` (a variable given as
    None is unset); storage only from what the test passes. Each process runs in a
    directory of its own (or ``cwd``), so one given no storage keeps its SQLite file there.
    Its log may show no configured secret."""
    started: list[Served] = []

    def start(
        *args: str, program: Sequence[str] = (STACKDUCK,), cwd: Path | None = None, **env_vars: str | None
    ) -> Served:
        address = f"127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update({"SERVER_ADDR": address, "STACKDUCK_SHUTDOWN_GRACE_SECONDS": "5"})
        for name, value in env_vars.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        configured_secrets.add_settings(env)
        if cwd is None:
            cwd = tmp_path / f"process-{len(started)}"
            cwd.mkdir()
        process = subprocess.Popen([*program, *args], env=env, stderr=subprocess.PIPE, text=True, cwd=cwd)
        started.append(Served(process, env.get("SERVER_ADDR", address)))
        return started[-1]

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()
        log = served.log(timeout=20)
        assert served.process.stderr is not None
        served.process.stderr.close()
        configured_secrets.check(log, f"the log of {served.process.args}")
