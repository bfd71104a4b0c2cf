"""Worker against a real server: answers, concurrency, threads, heartbeats, stopping."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest

from stackduck import AsyncClient, InvalidJob, JobInfo, JobStatus, StackduckError, Worker
from tests.integration.conftest import Running, ServerFactory
from tests.integration.sdk.conftest import memory_only, until_status, working


async def test_a_return_completes_and_an_exception_fails_with_its_message(
    server: Running, client: AsyncClient
) -> None:
    seen: dict[str, JobInfo] = {}
    all_seen = asyncio.Event()
    worker = Worker(server.address, concurrency=3, worker_id="w-answers")

    def note(job: JobInfo) -> None:
        seen[job.id] = job
        if len(seen) == 3:
            all_seen.set()

    @worker.handler("send")
    async def send(job: JobInfo) -> str:
        note(job)
        return "sent"

    @worker.handler("explode")
    def explode(job: JobInfo) -> None:
        note(job)
        raise RuntimeError(f"mailbox {job.payload['to']} does not exist")

    done = await client.enqueue("send", {"to": "a@b.c"})
    dead = await client.enqueue("explode", {"to": "x@y.z"}, retry_limit=0)
    retried = await client.enqueue("explode", {"to": "p@q.r"}, max_retries=3, delay=60)
    async with working(worker) as running:
        await running.until(all_seen.wait())

    assert seen[done].payload == {"to": "a@b.c"}
    assert (seen[done].job_type, seen[done].status, seen[done].lease_token) == ("send", JobStatus.RUNNING, 1)
    assert seen[done].worker_id == "w-answers"
    assert (await client.get(done)).status is JobStatus.COMPLETED
    failed = await client.get(dead)
    assert (failed.status, failed.error_message) == (JobStatus.FAILED, "mailbox x@y.z does not exist")
    again = await client.get(retried)
    assert (again.status, again.retry_count) == (JobStatus.QUEUED, 1)
    assert again.error_message == "mailbox p@q.r does not exist"


async def test_heartbeats_keep_a_job_longer_than_its_lease(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_LEASE_SECONDS=1)
    started = threading.Event()

    def slow(job: JobInfo) -> None:
        started.set()
        time.sleep(2.5)  # real time must pass: the lease is 1 s

    worker = Worker(server.address, handlers={"slow": slow})
    async with AsyncClient(server.address) as client:
        job_id = await client.enqueue("slow", {}, max_retries=3, delay=1)
        async with working(worker) as running:
            await running.until(asyncio.to_thread(started.wait, 10))
            delivered = await client.get(job_id)
        job = await client.get(job_id)

    assert delivered.lease_expires_at is not None and delivered.started_at is not None
    assert (delivered.lease_expires_at - delivered.started_at).total_seconds() <= 2  # the short lease
    assert (job.status, job.retry_count, job.lease_token) == (JobStatus.COMPLETED, 0, 1)  # first attempt


@memory_only
async def test_never_more_handlers_at_once_than_the_concurrency(server: Running, client: AsyncClient) -> None:
    ids = [await client.enqueue("limited", {"n": n}) for n in range(7)]
    running_now = peak = handled = 0
    full, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def limited(job: JobInfo) -> None:
        nonlocal running_now, peak, handled
        running_now += 1
        peak = max(peak, running_now)
        if running_now == 3:
            full.set()
        await release.wait()
        running_now -= 1
        handled += 1
        if handled == 7:
            finished.set()

    async with working(Worker(server.address, handlers={"limited": limited}, concurrency=3)) as running:
        await running.until(full.wait())
        # All 7 were ready before the stream opened: the server leased exactly as many as asked for.
        statuses = Counter([(await client.get(job_id)).status for job_id in ids])
        release.set()
        await running.until(finished.wait())

    assert statuses == {JobStatus.RUNNING: 3, JobStatus.QUEUED: 4}
    assert peak == 3
    assert {(await client.get(job_id)).status for job_id in ids} == {JobStatus.COMPLETED}


@memory_only
async def test_sync_handlers_run_in_threads_and_async_handlers_on_the_loop(
    server: Running, client: AsyncClient
) -> None:
    both_waiting = threading.Barrier(2, timeout=10)  # only two threads at once can pass it
    threads: dict[str, int] = {}
    handled = asyncio.Event()
    loop = asyncio.get_running_loop()

    def record(job: JobInfo) -> None:  # from any thread
        threads[job.id] = threading.get_ident()
        if len(threads) == 3:
            loop.call_soon_threadsafe(handled.set)

    def blocking(job: JobInfo) -> None:
        both_waiting.wait()
        record(job)

    async def on_loop(job: JobInfo) -> None:
        record(job)

    worker = Worker(server.address, handlers={"blocking": blocking, "on_loop": on_loop}, concurrency=3)
    blocked = [await client.enqueue("blocking", {}) for _ in range(2)]
    looped = await client.enqueue("on_loop", {}, priority=3)  # after both blocking ones
    async with working(worker) as running:
        await running.until(handled.wait())

    loop_thread = threading.get_ident()
    assert threads[looped] == loop_thread
    assert loop_thread not in {threads[job_id] for job_id in blocked}
    assert threads[blocked[0]] != threads[blocked[1]]
    assert {(await client.get(job_id)).status for job_id in blocked} == {JobStatus.COMPLETED}


@memory_only
async def test_stop_takes_no_new_job_and_finishes_the_one_in_hand(
    server: Running, client: AsyncClient
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def work(job: JobInfo) -> None:
        handled.append(job.id)
        started.set()
        await release.wait()

    worker = Worker(server.address, handlers={"work": work}, concurrency=2, grace=10)
    in_hand = await client.enqueue("work", {})
    async with working(worker) as running:
        await running.until(started.wait())
        worker.stop()
        later = await client.enqueue("work", {})
        await until_status(client, later, JobStatus.RUNNING)  # delivered: the stream had room
        release.set()
        await running.until(running.task)

    assert handled == [in_hand]
    assert (await client.get(in_hand)).status is JobStatus.COMPLETED
    untouched = await client.get(later)  # handed back unstarted when the stream closed
    assert (untouched.status, untouched.retry_count, untouched.lease_token) == (JobStatus.QUEUED, 0, 1)


@memory_only
async def test_jobs_still_running_after_the_grace_are_cancelled_and_handed_back(
    server: Running, client: AsyncClient
) -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def stuck(job: JobInfo) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(job.id)
            raise

    worker = Worker(server.address, handlers={"stuck": stuck}, grace=0.2)
    job_id = await client.enqueue("stuck", {})
    async with working(worker) as running:
        await running.until(started.wait())
        worker.stop()
        await running.until(running.task, seconds=5)

    assert cancelled == [job_id]
    job = await client.get(job_id)
    assert (job.status, job.retry_count, job.error_message) == (JobStatus.QUEUED, 0, None)  # released


@memory_only
async def test_a_second_stop_cuts_the_grace_short(server: Running, client: AsyncClient) -> None:
    started = asyncio.Event()

    async def stuck(job: JobInfo) -> None:
        started.set()
        await asyncio.Event().wait()

    worker = Worker(server.address, handlers={"stuck": stuck}, grace=60)
    await client.enqueue("stuck", {})
    async with working(worker) as running:
        await running.until(started.wait())
        worker.stop()
        worker.stop()
        await running.until(running.task, seconds=5)  # not 60


@memory_only
async def test_a_stream_request_the_server_refuses_ends_run_with_invalid_job(server: Running) -> None:
    worker = Worker(server.address, handlers={"x" * 300: lambda job: None})

    with pytest.raises(InvalidJob, match="job_type"):
        await asyncio.wait_for(worker.run(), 10)


@memory_only
async def test_a_worker_without_the_servers_token_stops_instead_of_retrying(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: Running = await start_server(STACKDUCK_AUTH_TOKEN="s3cret")
    monkeypatch.delenv("STACKDUCK_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("STACKDUCK_AUTH_TOKEN_FILE", raising=False)
    handled = asyncio.Event()

    async def note(job: JobInfo) -> None:
        handled.set()

    with pytest.raises(StackduckError, match="UNAUTHENTICATED"):
        await asyncio.wait_for(Worker(server.address, handlers={"t": note}).run(), 10)
    async with AsyncClient(server.address, token="s3cret") as client:
        job_id = await client.enqueue("t", {})
        async with working(Worker(server.address, handlers={"t": note}, token="s3cret")) as running:
            await running.until(handled.wait())
        assert (await client.get(job_id)).status is JobStatus.COMPLETED
