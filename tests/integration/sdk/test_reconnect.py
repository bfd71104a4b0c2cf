"""A worker outlives its server: stopped or killed, started again on the same port."""

from __future__ import annotations

import asyncio
import signal

import pytest

from stackduck import AsyncClient, JobInfo, JobStatus, Worker
from tests.integration.sdk.conftest import ServerProcess, working


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_the_worker_reconnects_when_the_server_comes_back(
    server_process: ServerProcess, signum: signal.Signals
) -> None:
    await server_process.start()
    handled: asyncio.Queue[JobInfo] = asyncio.Queue()

    async def note(job: JobInfo) -> None:
        await handled.put(job)

    worker = Worker(server_process.address, handlers={"resilient": note}, max_backoff=0.5)
    async with working(worker) as running:
        async with AsyncClient(server_process.address) as client:
            before = await client.enqueue("resilient", {"n": 1})
            assert (await running.until(handled.get())).id == before

        await server_process.stop(signum)  # every job lived in its memory: gone with it
        await server_process.start()

        async with AsyncClient(server_process.address) as client:
            after = await client.enqueue("resilient", {"n": 2})
            job = await running.until(handled.get())
            assert (job.id, job.payload) == (after, {"n": 2})
            await running.stop()  # answers the job in hand first
            assert (await client.get(after)).status is JobStatus.COMPLETED
