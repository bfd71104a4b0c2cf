"""The `stackduck` command as a real process: it serves, logs where, and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub

STACKDUCK = str(Path(sys.executable).parent / "stackduck")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(port: int, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SERVER_ADDR=f"127.0.0.1:{port}", STACKDUCK_SHUTDOWN_GRACE_SECONDS="5")
    return subprocess.Popen([STACKDUCK, *args], env=env, stderr=subprocess.PIPE, text=True)


def wait_for_line(process: subprocess.Popen[str], words: str, timeout: float = 20) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if words in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"never logged {words!r}")


async def test_serve_logs_its_address_and_storage_and_stops_on_sigterm() -> None:
    port = free_port()
    process = start(port, "serve")
    try:
        line = await asyncio.to_thread(wait_for_line, process, "serving on")
        assert f"127.0.0.1:{port}" in line and "memory storage" in line
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = StackDuckServiceStub(channel)
            job_id = (await stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}"))).job_id
            stream = stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="w", job_types=["t"]))
            job = (await stream.read()).job
            assert job.id == job_id

            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(wait_for_line, process, "stopping")
            # In-flight work may still be answered during the grace period.
            done = await stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=job.lease_token))
            assert done.success

        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()


async def test_plain_stackduck_serves_too_and_sigint_exits_zero() -> None:
    port = free_port()
    process = start(port)
    try:
        await asyncio.to_thread(wait_for_line, process, "serving on")
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()


async def test_readme_examples_enqueue_and_work_a_job() -> None:
    port = free_port()
    process = start(port)
    address = f"127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_for_line, process, "serving on")
        produced = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(EXAMPLES / "producer.py"), address],
            capture_output=True,
            text=True,
            check=True,
        )
        job_id = produced.stdout.strip()
        worked = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(EXAMPLES / "worker.py"), address, "1"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert "sending to user@example.com" in worked.stdout
        async with grpc.aio.insecure_channel(address) as channel:
            job = await StackDuckServiceStub(channel).GetJob(pb.GetJobRequest(job_id=job_id))
        assert job.status == "completed"
    finally:
        process.terminate()
        process.wait(15)
        assert process.stderr is not None
        process.stderr.close()
