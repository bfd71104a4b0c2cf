"""A real Stackduck server on a free port, and a real gRPC client talking to it.

Every test that uses ``server`` or ``start_server`` runs once per storage
configuration: memory, Postgres (the run's throwaway database), Redis (a key
prefix of the test's own), and Redis over Postgres.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
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
