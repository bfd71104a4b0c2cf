"""Handlers that `stackduck worker` loads in tests (as tests.integration.sdk.cli_handlers:...)."""

from __future__ import annotations

from stackduck import JobInfo, Worker


def send(job: JobInfo) -> str:
    return f"sent to {job.payload['to']}"


async def explode(job: JobInfo) -> None:
    raise RuntimeError(f"cannot reach {job.payload['to']}")


handlers = {"cli_send": send, "cli_explode": explode}

worker = Worker(handlers=handlers, concurrency=2, worker_id="from-the-module")

not_handlers = ["cli_send"]
