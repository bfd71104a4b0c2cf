"""The worker told to stop a job against a real server: cancelled while it runs, or past
its timeout (by the server's stop message, or by the worker's own timer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time

import pytest

from stackduck import AsyncClient, IllegalTransition, JobFailed, JobStatus, RunningJob, Worker
from stackduck.adapters.memory import ManualClock
from stackduck.container import Container
from tests.integration.conftest import Running, ServerFactory
from tests.integration.sdk.conftest import PATIENCE, memory_only, working

#: How the worker logs a job cancelled while it ran (after "job ID (TYPE) ").
CANCELLED = "stopped (cancelled): cancelled while running"


def stopped_lines(caplog: pytest.LogCaptureFixture, job_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"job {job_id} (")]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "answer refused" in r.getMessage()]


async def test_a_job_cancelled_while_its_async_handler_runs_is_dropped_and_the_next_one_runs(
    server: Running, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    started, cancelled, later_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    seen: list[RunningJob] = []

    async def work(job: RunningJob) -> str:
        if job.payload["n"] == 2:
            later_done.set()
            return "second"
        seen.append(job)
        started.set()
        try:
            await asyncio.sleep(PATIENCE * 2)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    first = await client.enqueue("work", {"n": 1})
    second = await client.enqueue("work", {"n": 2}, priority=3)  # waits: one job at a time
    async with working(Worker(server.address, handlers={"work": work}, concurrency=1)) as running:
        await running.until(started.wait())
        await client.cancel(first)
        await running.until(cancelled.wait())
        await running.until(later_done.wait())  # the slot is free at once
        assert await client.result(second, timeout=PATIENCE) == "second"

    [job] = seen
    assert (job.cancelled, job.stop_reason) == (True, "cancelled")
    ended = await client.get(first)
    assert (ended.status, ended.raw_result, [a.outcome for a in ended.attempts]) == (
        JobStatus.CANCELLED,
        None,
        ["cancelled"],
    )
    assert stopped_lines(caplog, first) == [
        f"job {first} (work) stopped (cancelled): cancelled while running"
    ]
    assert refusals(caplog) == []  # no answer was sent for it


async def test_a_sync_handler_sees_job_cancelled_become_true(
    server: Running, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    started = threading.Event()
    saw: list[tuple[bool, str | None]] = []

    def work(job: RunningJob) -> str:
        if job.payload.get("quick"):
            return "quick"
        saw.append((job.cancelled, job.stop_reason))
        started.set()
        deadline = time.monotonic() + PATIENCE
        while not job.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)  # a step of the work
        saw.append((job.cancelled, job.stop_reason))
        return "ignored: the job was stopped"

    job_id = await client.enqueue("work")
    async with working(Worker(server.address, handlers={"work": work}, concurrency=1)) as running:
        await running.until(asyncio.to_thread(started.wait, PATIENCE))
        await client.cancel(job_id)
        then = await client.enqueue("work", {"quick": True})
        assert await running.until(client.result(then)) == "quick"  # its thread is free again

    assert saw == [(False, None), (True, "cancelled")]
    ended = await client.get(job_id)
    assert (ended.status, ended.raw_result) == (JobStatus.CANCELLED, None)
    assert stopped_lines(caplog, job_id) == [
        f"job {job_id} (work) stopped (cancelled): cancelled while running"
    ]
    assert refusals(caplog) == []


async def test_an_async_handler_past_the_jobs_timeout_is_cancelled_at_the_deadline(
    server: Running, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[tuple[float, float]] = []  # (started, cancelled) per attempt

    async def slow(job: RunningJob) -> None:
        began = time.monotonic()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            runs.append((began, time.monotonic()))
            raise

    job_id = await client.enqueue("slow", timeout=0.5, retry_limit=1, delay=1)
    async with working(Worker(server.address, handlers={"slow": slow})) as running:
        with pytest.raises(JobFailed, match=r"^timed out after 0\.5 s$") as failed:
            await running.until(client.result(job_id))

    assert len(runs) == 2  # retried once, then dead-lettered
    for began, cancelled in runs:
        assert 0.4 <= cancelled - began <= 2.5
    attempts = failed.value.job.attempts
    assert [(a.outcome, a.error) for a in attempts] == [("timed_out", "timed out after 0.5 s")] * 2
    assert [line.split(": ")[0] for line in stopped_lines(caplog, job_id)] == [
        f"job {job_id} (slow) stopped (timed_out)"
    ] * 2
    assert refusals(caplog) == []


@memory_only
async def test_the_workers_own_timer_stops_a_job_whose_stop_message_does_not_come(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(start=time.time())  # the server's time stands still: it times nothing out

    def frozen_time(container: Container) -> None:
        container.clock.override(clock)

    server: Running = await start_server(configure=frozen_time)
    cancelled = asyncio.Event()
    began = 0.0

    async def slow(job: RunningJob) -> None:
        nonlocal began
        began = time.monotonic()
        try:
            await asyncio.sleep(PATIENCE)
        except asyncio.CancelledError:
            assert job.stop_reason == "timed_out"
            cancelled.set()
            raise

    async with AsyncClient(server.address) as client:
        job_id = await client.enqueue("slow", timeout=0.5, retry_limit=0)
        async with working(Worker(server.address, handlers={"slow": slow})) as running:
            await running.until(cancelled.wait())
            assert 0.45 <= time.monotonic() - began <= 2.5
            assert (await client.get(job_id)).status is JobStatus.RUNNING  # the server has not seen it
            clock.advance(1)  # now the server's deadline passes: its stop comes, for a job let go
            with pytest.raises(JobFailed, match=r"^timed out after 0\.5 s$"):
                await running.until(client.result(job_id))

    assert stopped_lines(caplog, job_id) == [
        f"job {job_id} (slow) stopped (timed_out): timed out after 0.5 s (by the worker's own clock)"
    ]
    assert refusals(caplog) == []


@memory_only
async def test_a_handler_that_ends_as_its_job_is_cancelled_does_not_trouble_the_worker(
    server: Running, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="stackduck.worker")
    ids = [await client.enqueue("work", {"n": n}) for n in range(6)]
    releases = {job_id: threading.Event() for job_id in ids}
    started: queue.SimpleQueue[str] = queue.SimpleQueue()

    def work(job: RunningJob) -> str:
        started.put(job.id)
        releases[job.id].wait(PATIENCE)
        return "finished"

    async def next_started() -> str:
        return await asyncio.to_thread(started.get, timeout=PATIENCE)

    raced: list[str] = []
    async with working(Worker(server.address, handlers={"work": work}, concurrency=1)) as running:
        for _ in range(5):
            job_id = await running.until(next_started())
            raced.append(job_id)
            cancelling = asyncio.ensure_future(client.cancel(job_id))
            releases[job_id].set()  # the handler returns as the cancel is on its way
            with contextlib.suppress(IllegalTransition):  # the answer came first: completed
                await cancelling
        [last] = set(ids) - set(raced)
        assert await running.until(next_started()) == last
        releases[last].set()
        assert await running.until(client.result(last)) == "finished"

    for job_id in raced:
        assert (await client.get(job_id)).status in {JobStatus.COMPLETED, JobStatus.CANCELLED}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "stackduck.worker"]
    assert not [r for r in caplog.records if r.exc_info]
