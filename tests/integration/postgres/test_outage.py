"""A PostgreSQL outage: clients get UNAVAILABLE with a clear message, open streams
survive, and the server recovers by itself when the database is back."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from stackduck.container import build_container, close_resources, provide
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from stackduck.settings import Settings
from tests.proxy import Proxy


async def enqueue(stub: StackDuckServiceStub) -> str:
    reply = await stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}"), timeout=15)
    return str(reply.job_id)


async def test_postgres_outage_and_recovery(proxied: str, proxy: Proxy) -> None:
    settings = Settings(SERVER_ADDR="127.0.0.1:0", DATABASE_URL=proxied)
    container = build_container(settings)
    server = await provide(container.grpc_server)
    await server.start()
    channel = grpc.aio.insecure_channel(server.address)
    stub = StackDuckServiceStub(channel)
    stream = stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="w", job_types=["t"]))
    try:
        first = await enqueue(stub)
        assert (await asyncio.wait_for(stream.read(), 5)).job.id == first

        await proxy.cut()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await enqueue(stub)
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "PostgreSQL is unavailable" in (err.value.details() or "")

        await proxy.restore()
        deadline = time.monotonic() + 20
        while True:
            try:
                second = await enqueue(stub)
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() is grpc.StatusCode.UNAVAILABLE
                assert time.monotonic() < deadline, "the server did not recover"
                await asyncio.sleep(0.2)
        done = await stub.CompleteJob(pb.CompleteJobRequest(job_id=first))
        assert done.success
        # The stream lived through the outage and is served again.
        assert (await asyncio.wait_for(stream.read(), 10)).job.id == second
    finally:
        stream.cancel()
        await channel.close()
        await server.stop(0)
        await close_resources(container)
