"""A real Stackduck server on a free port, and a real gRPC client talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from stackduck.container import Container, build_container
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from stackduck.settings import Settings


@dataclass
class Running:
    container: Container
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
        return await self.container.admin().counts()


ServerFactory = Callable[..., Any]


@pytest.fixture
async def start_server() -> AsyncIterator[ServerFactory]:
    started: list[tuple[Any, grpc.aio.Channel]] = []

    async def start(**settings: Any) -> Running:
        values = {"SERVER_ADDR": "127.0.0.1:0", **settings}
        container = build_container(Settings(**values))
        server = container.grpc_server()
        await server.start()
        channel = grpc.aio.insecure_channel(server.address)
        started.append((server, channel))
        return Running(container, server.address, StackDuckServiceStub(channel), channel)

    yield start
    for server, channel in reversed(started):
        await channel.close()
        await server.stop(0)


@pytest.fixture
async def server(start_server: ServerFactory) -> Running:
    running: Running = await start_server()
    return running
