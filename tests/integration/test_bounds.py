"""What one client can hold of a server: RPCs at once, health Watch streams."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from dependency_injector import providers
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stackduck.container import build_container, close_resources, provide
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from stackduck.entrypoints.grpc.health import HealthReporter
from stackduck.settings import Settings
from tests.integration.conftest import Running, ServerFactory

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
SERVING = health_pb2.HealthCheckResponse.SERVING
UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


@pytest.fixture(autouse=True)
def _no_error_in_the_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A call over a limit is refused, not a server fault: no error, no traceback."""
    yield
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not noisy, [f"{r.name}: {r.getMessage()}" for r in noisy]


async def streams_open(server: Running, count: int, seconds: float = 5) -> None:
    """Until the server holds ``count`` streams (asked in process: an RPC would count)."""
    operations = await provide(server.container.queue_admin)
    for _ in range(int(seconds / 0.01)):
        if len(operations.workers()) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(operations.workers())} streams open, not {count}")


async def test_rpcs_over_the_concurrent_limit_are_resource_exhausted(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_MAX_CONCURRENT_RPCS=3)
    streams = [
        server.stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id=f"w{i}", job_types=["t"])) for i in range(3)
    ]
    await streams_open(server, 3)

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}"))
    assert err.value.code() is EXHAUSTED

    streams.pop().cancel()
    await streams_open(server, 2)
    for _ in range(100):  # the cancelled stream's RPC ends a moment after its stream closes
        try:
            assert (await server.stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}"))).success
            break
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is EXHAUSTED
            await asyncio.sleep(0.02)
    else:
        raise AssertionError("the freed RPC slot never came back")
    for stream in streams:
        stream.cancel()


@pytest.mark.slow
async def test_the_default_limit_serves_1500_streams_and_calls_besides(server: Running) -> None:
    channels = [grpc.aio.insecure_channel(server.address) for _ in range(3)]
    streams = [
        StackDuckServiceStub(channels[i % 3]).ConsumeJobs(
            pb.ConsumeJobsRequest(worker_id=f"w{i}", job_types=[f"t{i % 10}"])
        )
        for i in range(1500)
    ]
    try:
        await streams_open(server, 1500, seconds=60)
        ids = [await server.enqueue(f"t{i}") for i in range(10)]
        for job_id in ids:  # each handed to one of the streams
            for _ in range(500):
                if (await server.job(job_id)).status == "running":
                    break
                await asyncio.sleep(0.01)
            assert (await server.job(job_id)).status == "running"
    finally:
        for stream in streams:
            stream.cancel()
        for channel in channels:
            await channel.close()


@pytest.fixture
async def watched_server() -> AsyncIterator[Running]:
    """A memory server that keeps at most three health Watch streams."""
    container = build_container(
        Settings(SERVER_ADDR="127.0.0.1:0", HTTP_ADDR="127.0.0.1:0", STACKDUCK_STORAGE="memory")
    )
    container.health_reporter.override(
        providers.Singleton(HealthReporter, container.storage_health, container.gate, max_watches=3)
    )
    server = await provide(container.grpc_server)
    http = await provide(container.http_server)
    await server.start()
    channel = grpc.aio.insecure_channel(server.address)
    yield Running(container, server, http, server.address, StackDuckServiceStub(channel), channel)
    await channel.close()
    await server.stop(0)
    await close_resources(container)


async def test_health_watch_streams_are_bounded(watched_server: Running) -> None:
    health = health_pb2_grpc.HealthStub(watched_server.channel)
    watches = [health.Watch(health_pb2.HealthCheckRequest(service=f"s{i}")) for i in range(3)]
    for watch in watches:
        assert (await asyncio.wait_for(watch.read(), 5)).status == UNKNOWN

    fourth = health.Watch(health_pb2.HealthCheckRequest(service=""))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(fourth.read(), 5)
    assert err.value.code() is EXHAUSTED and "Watch" in (err.value.details() or "")
    # Check has no such limit; a closed Watch makes room for another.
    assert (await health.Check(health_pb2.HealthCheckRequest())).status == SERVING
    watches.pop().cancel()
    reporter = await provide(watched_server.container.health_reporter)
    for _ in range(200):
        if reporter.servicer.watching == 2:
            break
        await asyncio.sleep(0.01)
    again = health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await asyncio.wait_for(again.read(), 5)).status == SERVING
    for watch in [*watches, again]:
        watch.cancel()
