"""A real Stackduck server on a free port, and a real gRPC client talking to it.

Every test that uses ``server`` or ``start_server`` runs once per storage
configuration: memory, Postgres (the run's throwaway database), Redis (a key
prefix of the test's own), and Redis over Postgres.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
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
        admin = await provide(self.container.admin)
        return await admin.counts()


ServerFactory = Callable[..., Any]


@pytest.fixture(params=STORAGES)
def storage_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    return storage_env(request, request.param)


@pytest.fixture
async def start_server(storage_settings: dict[str, str]) -> AsyncIterator[ServerFactory]:
    started: list[Running] = []

    async def start(**settings: Any) -> Running:
        values = {"SERVER_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0", **storage_settings, **settings}
        container = build_container(Settings(**values))
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

    def wait_for_line(self, words: str, timeout: float = 20) -> str:
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if words in line:
                return line
            if not line and self.process.poll() is not None:
                break
        raise AssertionError(f"never logged {words!r}")

    async def started(self) -> str:
        return await asyncio.to_thread(self.wait_for_line, "serving on")

    async def exit_code(self) -> int:
        return await asyncio.to_thread(self.process.wait, 30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Starts ``stackduck ARGS`` with ``ENV``; storage only from what the test passes."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, **env_vars: str) -> Served:
        address = f"127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update({"SERVER_ADDR": address, "STACKDUCK_SHUTDOWN_GRACE_SECONDS": "5", **env_vars})
        process = subprocess.Popen([STACKDUCK, *args], env=env, stderr=subprocess.PIPE, text=True)
        processes.append(process)
        return Served(process, address)

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()
