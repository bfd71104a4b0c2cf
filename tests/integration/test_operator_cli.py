"""The operator commands against a running server: stackduck enqueue, stats, jobs, dlq, pause, resume."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory

STACKDUCK = str(Path(sys.executable).parent / "stackduck")
pytestmark = pytest.mark.parametrize("storage_settings", ["memory"], indirect=True)


async def cli(server: Running, *args: str, expect: int = 0, token: str | None = None) -> Any:
    extra = ["--token", token] if token else []
    process = await asyncio.create_subprocess_exec(
        STACKDUCK, *args, "--address", server.address, *extra, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == expect, err.decode()
    return json.loads(out) if expect == 0 else err.decode()


async def test_an_operator_repairs_a_queue_from_the_command_line(server: Running) -> None:
    job_id = (await cli(server, "enqueue", "report", '{"month": 11}', "--priority", "1"))["job_id"]
    assert (await server.job(job_id)).payload == '{"month": 11}'

    await cli(server, "pause", "report")
    [stats] = await cli(server, "stats", "report")
    assert stats["paused"] is True and stats["ready"] == [1, 0, 0]
    await cli(server, "resume", "report")

    listed = await cli(server, "jobs", "--type", "report", "--status", "queued")
    assert [j["id"] for j in listed["jobs"]] == [job_id]

    held = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="report", worker_id="w"))
    await server.stub.FailJob(
        pb.FailJobRequest(job_id=job_id, lease_token=held.job.lease_token, no_retry=True)
    )
    dead = await cli(server, "dlq", "list")
    assert [j["id"] for j in dead["jobs"]] == [job_id]
    assert await cli(server, "dlq", "requeue", job_id) == {"requeued": 1}
    assert (await server.job(job_id)).status == "queued"

    message = await cli(server, "dlq", "purge", expect=1)
    assert "exactly one" in message


async def test_the_commands_carry_the_token(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_AUTH_TOKEN="t0ken")
    refused = await cli(server, "stats", expect=1)
    assert "Bearer" in refused
    assert await cli(server, "stats", token="t0ken") == []
