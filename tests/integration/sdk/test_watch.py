"""watch() and result() against a real server: a job followed from enqueue to its end
over WatchJob, from asyncio and from a thread, through a server restart."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from typing import Any

import pytest

from stackduck import (
    AsyncClient,
    Client,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobInfo,
    JobNotFound,
    JobStatus,
    LimitExceeded,
    NoRetry,
    Worker,
)
from tests.integration.conftest import Running, ServerFactory
from tests.integration.sdk.conftest import PATIENCE, memory_only, working

#: The storage configurations that outlive a server: a restarted one still has the job.
durable = pytest.mark.parametrize("storage_settings", ["postgres", "redis", "redis+postgres"], indirect=True)


def statuses(events: list[JobEvent]) -> list[JobStatus]:
    """The states seen, each once (a running job may change more than once: heartbeats)."""
    seen: list[JobStatus] = []
    for event in events:
        if not seen or seen[-1] is not event.job.status:
            seen.append(event.job.status)
    return seen


async def test_watch_sees_queued_running_completed_with_the_result_and_ends(
    server: Running, client: AsyncClient
) -> None:
    job_id = await client.enqueue("report", {"month": 11})
    events: list[JobEvent] = []
    first_seen, seen_running = asyncio.Event(), asyncio.Event()

    async def follow() -> None:
        async for event in client.watch(job_id):
            events.append(event)
            first_seen.set()
            if event.job.status is JobStatus.RUNNING:
                seen_running.set()

    async def report(job: JobInfo) -> dict[str, int]:
        await seen_running.wait()  # the watcher sees the job running before it ends
        return {"rows": 3}

    watching = asyncio.create_task(follow())
    await asyncio.wait_for(first_seen.wait(), PATIENCE)  # watching before any worker runs
    async with working(Worker(server.address, handlers={"report": report})) as running:
        await running.until(watching)  # the iteration ends by itself after the last state

    assert statuses(events) == [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED]
    last = events[-1]
    assert last.last and not any(event.last for event in events[:-1])
    assert (last.job.id, last.job.result, last.job.raw_result) == (job_id, {"rows": 3}, '{"rows": 3}')
    assert events[0].job.payload == {"month": 11}


async def test_result_waits_for_the_job_and_returns_its_parsed_result(
    server: Running, client: AsyncClient
) -> None:
    with_result = await client.enqueue("report", {"n": 2})
    without = await client.enqueue("quiet")
    waiting = asyncio.gather(client.result(with_result), client.result(without, timeout=PATIENCE))

    async def report(job: JobInfo) -> dict[str, Any]:
        return {"double": job.payload["n"] * 2, "tags": ["a"]}

    worker = Worker(server.address, handlers={"report": report, "quiet": lambda job: None})
    async with working(worker) as running:
        assert await running.until(waiting) == [{"double": 4, "tags": ["a"]}, None]
    # A finished job: the first event is its last state, so result() answers at once.
    assert await client.result(with_result, timeout=PATIENCE) == {"double": 4, "tags": ["a"]}


async def test_result_raises_job_failed_with_the_jobs_error(server: Running, client: AsyncClient) -> None:
    def declined(job: JobInfo) -> None:
        raise NoRetry("card declined")

    job_id = await client.enqueue("charge", max_retries=3)
    waiting = asyncio.ensure_future(client.result(job_id, timeout=PATIENCE))
    async with working(Worker(server.address, handlers={"charge": declined})) as running:
        with pytest.raises(JobFailed, match=r"^card declined$") as failed:
            await running.until(waiting)

    assert (failed.value.job.id, failed.value.job.status) == (job_id, JobStatus.FAILED)
    assert failed.value.job.error_message == "card declined"


async def test_result_raises_job_cancelled_when_the_job_is_cancelled(
    server: Running, client: AsyncClient
) -> None:
    job_id = await client.enqueue("later", scheduled_in=3600)
    waiting = asyncio.ensure_future(client.result(job_id, timeout=PATIENCE))
    await asyncio.sleep(0.1)  # the watch is open: the cancel is a change it hears of
    assert not waiting.done()
    await client.cancel(job_id)

    with pytest.raises(JobCancelled, match="was cancelled") as cancelled:
        await waiting
    assert cancelled.value.job.status is JobStatus.CANCELLED


async def test_result_raises_timeout_error_once_its_timeout_passes(client: AsyncClient) -> None:
    job_id = await client.enqueue("nobody_works_this")
    started = time.monotonic()

    with pytest.raises(TimeoutError):
        await client.result(job_id, timeout=0.5)

    assert 0.45 <= time.monotonic() - started < 5
    assert (await client.get(job_id)).status is JobStatus.QUEUED  # waiting changed nothing


@memory_only
async def test_an_unknown_job_is_job_not_found_for_watch_and_result(client: AsyncClient) -> None:
    unknown = "0" * 26
    with pytest.raises(JobNotFound):
        async for _ in client.watch(unknown):
            pass
    with pytest.raises(JobNotFound):
        await client.result(unknown, timeout=PATIENCE)


@durable
async def test_result_keeps_waiting_across_a_server_restart(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    first: Running = await start_server()
    async with AsyncClient(first.address) as client:
        job_id = await client.enqueue("report")
        waiting = asyncio.ensure_future(client.result(job_id, timeout=PATIENCE * 2))
        await asyncio.sleep(0.2)  # watching
        await first.server.stop(1)  # its watch streams end UNAVAILABLE ("shutting down")
        await asyncio.sleep(0.3)  # result() meets a server that is not there, and retries
        assert not waiting.done()

        second: Running = await start_server(SERVER_ADDR=first.address)  # same port, same storage
        async with working(Worker(second.address, handlers={"report": lambda job: "done"})) as running:
            assert await running.until(waiting) == "done"
    lines = [record.getMessage() for record in caplog.records]
    rewatched = [line for line in lines if line.startswith(f"watching job {job_id} again")]
    assert "shutting down" in rewatched[0]  # the server said so as it stopped


@memory_only
async def test_the_sync_client_watches_and_waits_from_a_thread(server: Running, client: AsyncClient) -> None:
    watched = await client.enqueue("report", {"n": 1})
    awaited = await client.enqueue("report", {"n": 2})

    first_seen = threading.Event()

    def script() -> tuple[list[JobEvent], Any]:  # a thread with no event loop, as a script
        events: list[JobEvent] = []
        with Client(server.address) as sync:
            for event in sync.watch(watched):
                events.append(event)
                first_seen.set()
            return events, sync.result(awaited, timeout=PATIENCE)

    following = asyncio.ensure_future(asyncio.to_thread(script))
    assert await asyncio.to_thread(first_seen.wait, PATIENCE)  # watching before any worker runs
    worker = Worker(server.address, handlers={"report": lambda job: job.payload["n"] * 10})
    async with working(worker) as running:
        events, result = await running.until(following)

    assert statuses(events)[0] is JobStatus.QUEUED and statuses(events)[-1] is JobStatus.COMPLETED
    assert events[-1].job.result == 10 and result == 20


@memory_only
async def test_leaving_a_sync_watch_early_closes_its_stream(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_MAX_WATCH_STREAMS=1)
    async with AsyncClient(server.address) as client:
        job_id = await client.enqueue("idle")

    def script() -> JobStatus:
        with Client(server.address) as sync:
            for event in sync.watch(job_id):
                assert event.job.status is JobStatus.QUEUED
                break  # the job stays queued: only closing the stream frees the server's one slot
            deadline = time.monotonic() + PATIENCE
            while True:  # the server frees the slot once it hears of the cancel
                try:
                    return next(iter(sync.watch(job_id))).job.status
                except LimitExceeded:
                    assert time.monotonic() < deadline, "the first watch stream is still open"
                    time.sleep(0.02)

    assert await asyncio.to_thread(script) is JobStatus.QUEUED


@memory_only
async def test_a_sync_watch_interrupted_before_its_step_was_handed_back_still_closes(
    start_server: ServerFactory,
) -> None:
    """Ctrl-C can land after a step was scheduled on the client's loop but before its future
    came back to be cancelled: leaving the watch must still close the stream. (The client's
    insides are driven by hand here, to hold that window open.)"""
    server: Running = await start_server(STACKDUCK_MAX_WATCH_STREAMS=1)
    async with AsyncClient(server.address) as client:
        job_id = await client.enqueue("idle")

    def script() -> JobStatus:
        with Client(server.address) as sync:
            events = sync._client.watch(job_id)  # the stream under the iterator
            sync._run(sync._next(events))  # its first event: the job, queued
            # The next step, waiting for an event that does not come, its future lost (the
            # interrupt's window), as the iterator would leave it.
            asyncio.run_coroutine_threadsafe(sync._next(events), sync._loop)
            time.sleep(0.2)
            sync._close_stream(events)  # what leaving the iterator does
            deadline = time.monotonic() + PATIENCE
            while True:  # the server frees its one watch slot once the stream is closed
                try:
                    return next(iter(sync.watch(job_id))).job.status
                except LimitExceeded:
                    assert time.monotonic() < deadline, "the interrupted watch stream is still open"
                    time.sleep(0.02)

    assert await asyncio.to_thread(script) is JobStatus.QUEUED


INTERRUPTED_SCRIPT = """
import signal, sys, time, stackduck
# Ctrl-C as a terminal delivers it: a shell running the tests in the background starts
# them (and so this script) with SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
address, job_id = sys.argv[1:]
with stackduck.Client(address) as client:
    try:
        for event in client.watch(job_id):
            print("watching", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    deadline = time.monotonic() + 10
    while True:  # the server's one watch slot is free again once it hears of the cancel
        try:
            print(next(iter(client.watch(job_id))).job.status, flush=True)
            break
        except stackduck.LimitExceeded:
            if time.monotonic() > deadline:
                sys.exit("the interrupted watch stream is still open")
            time.sleep(0.02)
"""


@memory_only
async def test_ctrl_c_in_a_sync_watch_raises_keyboard_interrupt_and_closes_the_stream(
    start_server: ServerFactory,
) -> None:
    server: Running = await start_server(STACKDUCK_MAX_WATCH_STREAMS=1)
    async with AsyncClient(server.address) as client:
        job_id = await client.enqueue("idle")
    script = await asyncio.create_subprocess_exec(
        sys.executable, "-c", INTERRUPTED_SCRIPT, server.address, job_id,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert script.stdout is not None
        assert await asyncio.wait_for(script.stdout.readline(), PATIENCE) == b"watching\n"
        script.send_signal(signal.SIGINT)  # blocked in the wait for the next event
        out, err = await asyncio.wait_for(script.communicate(), PATIENCE)
    finally:
        if script.returncode is None:
            script.kill()
            await script.communicate()

    assert (script.returncode, out) == (0, b"interrupted\nqueued\n"), err.decode()
