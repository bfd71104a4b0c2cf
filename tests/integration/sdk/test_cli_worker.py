"""`stackduck worker MODULE:NAME` as a real process against a real server process."""

from __future__ import annotations

import asyncio
import signal

import pytest

from stackduck import AsyncClient, JobStatus
from tests.integration.sdk.conftest import PATIENCE, ServerProcess, WorkerProcess


async def test_a_dict_of_handlers_completes_and_fails_jobs_and_sigterm_stops_it(
    server_process: ServerProcess, run_worker: type[WorkerProcess]
) -> None:
    await server_process.start()
    async with AsyncClient(server_process.address) as client:
        sent = await client.enqueue("cli_send", {"to": "a@b.c"})
        broken = await client.enqueue("cli_explode", {"to": "x@y.z"}, retry_limit=0)

        worker = run_worker(
            "tests.integration.sdk.cli_handlers:handlers",
            "--address",
            server_process.address,
            "--concurrency",
            "2",
            "--worker-id",
            "cli-worker",
            "--grace",
            "5",
        )
        await worker.logged(f"job {sent} (cli_send) completed", f"job {broken} (cli_explode) failure")
        code, log = await worker.stop()

        assert code == 0, log
        assert "cli-worker" in log and "cli_send, cli_explode" in log and "stopped" in log
        assert (await client.get(sent)).status is JobStatus.COMPLETED
        failed = await client.get(broken)
        assert (failed.status, failed.error_message) == (JobStatus.FAILED, "cannot reach x@y.z")


async def test_a_worker_object_runs_with_its_own_options_and_the_servers_address_variable(
    server_process: ServerProcess, run_worker: type[WorkerProcess]
) -> None:
    await server_process.start()
    async with AsyncClient(server_process.address) as client:
        sent = await client.enqueue("cli_send", {"to": "a@b.c"})

        worker = run_worker("tests.integration.sdk.cli_handlers:worker", SERVER_ADDR=server_process.address)
        await worker.logged(f"job {sent} (cli_send) completed")
        code, log = await worker.stop(signal.SIGINT)

        assert code == 0, log
        assert "worker from-the-module" in log and "concurrency 2" in log
        assert (await client.get(sent)).status is JobStatus.COMPLETED


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("no_colon_here", "expected MODULE:NAME"),
        ("tests.integration.sdk.no_such_module:handlers", "No module named"),
        ("tests.integration.sdk.cli_handlers:missing", "missing"),
        ("tests.integration.sdk.cli_handlers:not_handlers", "not a dict of handlers"),
    ],
)
async def test_a_target_that_names_no_handlers_exits_two(
    run_worker: type[WorkerProcess], target: str, complaint: str
) -> None:
    worker = run_worker(target, "--address", "127.0.0.1:1")
    _, log = await asyncio.to_thread(worker.process.communicate, timeout=PATIENCE)

    assert worker.process.returncode == 2
    assert complaint in log
