"""The `stackduck` command as a real process: it serves, logs where, and stops cleanly."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from tests.integration.conftest import Served

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def test_serve_logs_its_address_and_storage_and_stops_on_sigterm(serve: Callable[..., Served]) -> None:
    served = serve("serve")  # nothing configured: the SQLite file in ./stackduck-data
    line = await served.started()
    assert served.address in line and "sqlite storage" in line
    async with grpc.aio.insecure_channel(served.address) as channel:
        stub = StackDuckServiceStub(channel)
        job_id = (await stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}"))).job_id
        stream = stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="w", job_types=["t"]))
        job = (await stream.read()).job
        assert job.id == job_id

        served.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(served.wait_for_line, "stopping")
        refused = stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}"))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await refused
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in (err.value.details() or "")
        # The job in hand may still be answered during the grace period.
        done = await stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=job.lease_token))
        assert done.success

    assert await served.exit_code() == 0


async def test_with_nothing_configured_the_jobs_outlive_the_server(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    first = serve(cwd=tmp_path)
    kept = await asyncio.to_thread(first.wait_for_line, "jobs are kept in")
    assert str(tmp_path / "stackduck-data" / "stackduck.db") in kept
    await first.started()
    async with grpc.aio.insecure_channel(first.address) as channel:
        reply = await StackDuckServiceStub(channel).EnqueueJob(
            pb.EnqueueJobRequest(job_type="t", payload="{}")
        )
    first.process.send_signal(signal.SIGTERM)
    assert await first.exit_code() == 0
    assert "nothing is durable" not in first.log()

    second = serve(cwd=tmp_path)
    await second.started()
    async with grpc.aio.insecure_channel(second.address) as channel:
        job = await StackDuckServiceStub(channel).GetJob(pb.GetJobRequest(job_id=reply.job_id))
    assert job.status == "queued"


async def test_memory_storage_warns_that_nothing_is_durable(serve: Callable[..., Served]) -> None:
    served = serve(STACKDUCK_STORAGE="memory")
    assert "with memory storage" in await served.started()
    served.process.send_signal(signal.SIGTERM)
    assert await served.exit_code() == 0
    [warning] = [line for line in served.log().splitlines() if "nothing is durable" in line]
    assert " WARNING " in warning and "unset STACKDUCK_STORAGE" in warning


async def test_plain_stackduck_serves_too_and_sigint_exits_zero(serve: Callable[..., Served]) -> None:
    served = serve()
    await served.started()
    served.process.send_signal(signal.SIGINT)
    assert await served.exit_code() == 0


async def test_invalid_settings_are_reported_and_exit_two(serve: Callable[..., Served]) -> None:
    served = serve(STACKDUCK_LEASE_SECONDS="soon")
    assert await served.exit_code() == 2
    assert "STACKDUCK_LEASE_SECONDS" in served.log()


async def test_readme_examples_enqueue_and_work_a_job(serve: Callable[..., Served]) -> None:
    served = serve()
    await served.started()

    def run(script: str, *args: str) -> str:
        command = [sys.executable, str(EXAMPLES / script), served.address, *args]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout

    job_id = (await asyncio.to_thread(run, "producer.py")).strip()
    worked = await asyncio.to_thread(run, "worker.py", "1")

    assert "sending to user@example.com" in worked
    async with grpc.aio.insecure_channel(served.address) as channel:
        job = await StackDuckServiceStub(channel).GetJob(pb.GetJobRequest(job_id=job_id))
    assert job.status == "completed"


async def test_a_taken_http_port_stops_the_start_cleanly(serve: Callable[..., Served]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        served = serve(HTTP_ADDR=f"127.0.0.1:{taken.getsockname()[1]}")
        assert await served.exit_code() == 1
    assert "cannot start the HTTP server" in served.log()
