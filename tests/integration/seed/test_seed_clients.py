"""A client generated from the original Stackduck proto (stackduck_seed.proto, kept
unchanged) runs the job lifecycle against a real server on every storage configuration.
A change to the server's proto or behaviour that would break such clients fails here."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest

from tests.integration.conftest import Running

SEED_PROTO = Path(__file__).with_name("stackduck_seed.proto")
PATIENCE = 15.0


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """``(messages, service)``: the seed proto's generated modules, made now with
    grpc_tools.protoc. They are loaded as ``stackduck_seed_pb2`` (the name the
    ``_pb2_grpc`` module imports), and into a descriptor pool of their own: the project's
    proto, already loaded, defines the same message names in the default pool."""
    out = tmp_path_factory.mktemp("seed")
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{SEED_PROTO.parent}",
            f"--python_out={out}", f"--grpc_python_out={out}", str(SEED_PROTO),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    messages_py = out / "stackduck_seed_pb2.py"
    default_pool = "_descriptor_pool.Default().AddSerializedFile("
    text = messages_py.read_text()
    assert default_pool in text, "protoc's output changed: give the seed its own descriptor pool again"
    messages_py.write_text(text.replace(default_pool, "_descriptor_pool.DescriptorPool().AddSerializedFile("))

    with pytest.MonkeyPatch.context() as patch:
        messages = _load("stackduck_seed_pb2", messages_py)
        patch.setitem(sys.modules, "stackduck_seed_pb2", messages)  # for the _pb2_grpc import
        service = _load("stackduck_seed_pb2_grpc", out / "stackduck_seed_pb2_grpc.py")
        yield messages, service


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_seed_client_streams_completes_and_fails_jobs(server: Running, seed: tuple[Any, Any]) -> None:
    pb, service = seed
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = service.StackDuckServiceStub(channel)
        plain = await stub.EnqueueJob(pb.EnqueueJobRequest(job_type="seed_mail", payload='{"to": "a@b.c"}'))
        assert (plain.success, plain.error_message) == (True, "") and plain.job_id

        stream = stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="seed-worker", job_types=["seed_mail"]))
        message = await asyncio.wait_for(stream.read(), PATIENCE)
        job = message.job
        assert message.notification_type == "job_ready"
        assert (job.id, job.job_type, job.payload, job.status) == (
            plain.job_id, "seed_mail", '{"to": "a@b.c"}', "running"
        )  # fmt: skip
        assert (job.priority, job.max_retries, job.delay, job.retry_count) == (2, 2, 30, 0)  # zeros: defaults
        assert 0 < job.created_at <= job.started_at and job.completed_at == 0
        assert (await stub.CompleteJob(pb.CompleteJobRequest(job_id=job.id))).success  # a bare id

        failing = await stub.EnqueueJob(
            pb.EnqueueJobRequest(job_type="seed_mail", payload="{}", priority=1, delay=60, max_retries=3)
        )
        job = (await asyncio.wait_for(stream.read(), PATIENCE)).job
        assert (job.id, job.priority, job.delay, job.max_retries) == (failing.job_id, 1, 60, 3)
        failed_at = time.time()
        assert (await stub.FailJob(pb.FailJobRequest(job_id=job.id, error_message="smtp down"))).success
        stream.cancel()

    done, retrying = await server.job(plain.job_id), await server.job(failing.job_id)
    assert done.status == "completed" and done.completed_at > 0
    assert (retrying.status, retrying.retry_count, retrying.error_message) == ("queued", 1, "smtp down")
    assert abs(retrying.scheduled_at - (failed_at + 60)) <= 2  # delay · 2^0


async def test_a_seed_client_polls_retries_and_brings_jobs_forward(
    server: Running, seed: tuple[Any, Any]
) -> None:
    pb, service = seed
    poll = pb.DequeueJobRequest(queue_name="seed_poll", worker_id="seed-poller")
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = service.StackDuckServiceStub(channel)
        job_id = (await stub.EnqueueJob(pb.EnqueueJobRequest(job_type="seed_poll", payload="[1]"))).job_id

        taken = await stub.DequeueJob(poll)
        assert (taken.success, taken.job.id, taken.job.status) == (True, job_id, "running")
        assert (taken.job.payload, taken.job.priority, taken.job.max_retries, taken.job.delay) == (
            "[1]",
            2,
            2,
            30,
        )
        assert (await stub.RetryJob(pb.RetryJobRequest(job_id=job_id, error_message="try later"))).success

        backing_off = await stub.DequeueJob(poll)  # for 30 s
        assert (backing_off.success, backing_off.error_message) == (False, "no job ready")
        assert not backing_off.job.id
        assert (await stub.DequeueRetriedJob(pb.DequeueRetriedJobRequest(job=pb.Job(id=job_id)))).success
        again = await stub.DequeueJob(poll)
        assert (again.success, again.job.id, again.job.retry_count) == (True, job_id, 1)
        assert again.job.error_message == "try later"
        assert (await stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id))).success

        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        request = pb.EnqueueJobRequest(job_type="seed_poll", payload="{}", scheduled_at=later)
        scheduled_id = (await stub.EnqueueJob(request)).job_id
        assert not (await stub.DequeueJob(poll)).success  # not due for an hour
        forward = pb.DequeueRetriedJobRequest(job=pb.Job(id=scheduled_id))
        assert (await stub.DequeueRetriedJob(forward)).success
        brought = await stub.DequeueJob(poll)
        assert (brought.success, brought.job.id) == (True, scheduled_id)
        assert brought.job.scheduled_at <= time.time() + 1
        assert (await stub.CompleteJob(pb.CompleteJobRequest(job_id=scheduled_id))).success

    assert [(await server.job(i)).status for i in (job_id, scheduled_id)] == ["completed", "completed"]
