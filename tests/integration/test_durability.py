"""Durability on PostgreSQL (and, for schedules, on Redis), with real `stackduck`
processes.

A server killed with SIGKILL loses no job it acknowledged; two instances on one
database never hand one job to two workers; a job enqueued on one instance wakes
a worker streaming from another.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from tests.books import books

pytestmark = pytest.mark.slow

STACKDUCK = str(Path(sys.executable).parent / "stackduck")
JOB_TYPE = "durable"
RPC_TIMEOUT = 10.0  # no unary call may hang a test
READY_SECONDS = 30.0  # how long a server may take to log "serving on"


# --- server processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if "serving on" in await asyncio.to_thread(self.log):
                return
            if self.process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        log = await asyncio.to_thread(self.log)
        raise AssertionError(f"server {self.name} never logged 'serving on'; its log:\n{log[-4000:]}")

    async def kill_9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait, 15)


StartServer = Callable[..., Awaitable[ServerProcess]]


def _spawn(name: str, log_path: Path, database_url: str, env_vars: dict[str, str]) -> ServerProcess:
    address = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SERVER_ADDR=address, DATABASE_URL=database_url, STACKDUCK_SHUTDOWN_GRACE_SECONDS="1")
    env.update(env_vars)
    # The log goes to a file, never to a pipe that could fill and block the server.
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [STACKDUCK, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return ServerProcess(name, process, address, log_path)


@pytest.fixture
async def start_server(postgres: str, tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start `stackduck serve` processes on this run's database; all are stopped at the end."""
    started: list[ServerProcess] = []
    numbers = itertools.count(1)

    async def start(**env_vars: str) -> ServerProcess:
        name = f"server-{next(numbers)}"
        served = await asyncio.to_thread(_spawn, name, tmp_path / f"{name}.log", postgres, env_vars)
        started.append(served)
        await served.ready()
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.send_signal(signal.SIGTERM)
    for served in started:
        try:
            await asyncio.to_thread(served.process.wait, 10)
        except subprocess.TimeoutExpired:
            served.process.kill()
            await asyncio.to_thread(served.process.wait, 10)


# --- the database, read directly ---------------------------------------------------------


async def rows(url: str) -> dict[str, tuple[str, int]]:
    """Every job in the database: id → (status, attempt)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT id::text, status, attempt FROM stackduck_jobs")
        return {job_id: (status, attempt) for job_id, status, attempt in await cursor.fetchall()}


# --- workers and producers ------------------------------------------------------------------


@dataclass
class Ledger:
    """What the workers saw: deliveries, jobs held right now, completions."""

    deliveries: Counter[str] = field(default_factory=Counter)
    delivered_to: dict[str, list[str]] = field(default_factory=dict)  # job id → workers, in order
    held: dict[str, str] = field(default_factory=dict)  # job id → worker holding it now
    overlaps: list[tuple[str, str, str]] = field(default_factory=list)  # (job, holder, newcomer)
    completed: dict[str, int] = field(default_factory=dict)  # job id → lease token completed with
    completions: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)  # CompleteJob answered FAILED_PRECONDITION
    target: int | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, job_id: str, worker: str) -> None:
        self.deliveries[job_id] += 1
        self.delivered_to.setdefault(job_id, []).append(worker)
        if job_id in self.held:
            self.overlaps.append((job_id, self.held[job_id], worker))
        self.held[job_id] = worker

    def drop(self, job_id: str) -> None:
        self.held.pop(job_id, None)

    def complete(self, job_id: str, token: int) -> None:
        self.drop(job_id)
        self.completed[job_id] = token
        self.completions[job_id] += 1
        if self.target is not None and len(self.completed) >= self.target:
            self.reached.set()


async def work(
    stub: StackDuckServiceStub, worker: str, ledger: Ledger, max_in_flight: int = 4, pause: float = 0.0
) -> grpc.StatusCode | None:
    """Consume and complete jobs (each after ``pause`` seconds of "work") until the stream
    fails (returns its code) or the task is cancelled."""
    stream = stub.ConsumeJobs(
        pb.ConsumeJobsRequest(worker_id=worker, job_types=[JOB_TYPE], max_in_flight=max_in_flight)
    )
    try:
        async for message in stream:
            job = message.job
            ledger.deliver(job.id, worker)
            if pause:
                await asyncio.sleep(pause)
            try:
                reply = await stub.CompleteJob(
                    pb.CompleteJobRequest(job_id=job.id, lease_token=job.lease_token, worker_id=worker),
                    timeout=RPC_TIMEOUT,
                )
            except grpc.aio.AioRpcError as exc:
                ledger.drop(job.id)
                if exc.code() is grpc.StatusCode.FAILED_PRECONDITION:
                    ledger.refused.append(f"{job.id}: {exc.details()}")
                    continue
                raise
            assert reply.success
            ledger.complete(job.id, job.lease_token)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    finally:
        stream.cancel()
    return None


def enqueue_request(n: int) -> pb.EnqueueJobRequest:
    # delay=1, max_retries=10: jobs whose lease ran out come back within seconds, never dead-lettered
    return pb.EnqueueJobRequest(job_type=JOB_TYPE, payload=f'{{"n": {n}}}', delay=1, max_retries=10)


async def stop_tasks(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- the tests -------------------------------------------------------------------------------


async def test_kill_9_loses_no_acknowledged_job(start_server: StartServer, postgres: str) -> None:
    started = time.monotonic()
    first = await start_server(STACKDUCK_LEASE_SECONDS="2")

    acknowledged: list[str] = []
    refused_enqueues: list[grpc.StatusCode] = []
    before = Ledger()
    stop = asyncio.Event()
    numbers = itertools.count()

    async with grpc.aio.insecure_channel(first.address) as channel:
        stub = StackDuckServiceStub(channel)

        async def produce() -> None:
            while not stop.is_set():
                try:
                    reply = await stub.EnqueueJob(enqueue_request(next(numbers)), timeout=RPC_TIMEOUT)
                except grpc.aio.AioRpcError as exc:
                    refused_enqueues.append(exc.code())  # not acknowledged: may or may not be stored
                    return
                assert reply.success and reply.job_id
                acknowledged.append(reply.job_id)

        producers = [asyncio.create_task(produce()) for _ in range(2)]
        # Workers slower than the producers: at the kill some jobs are queued, some held.
        workers = [asyncio.create_task(work(stub, f"before-{i}", before, pause=0.01)) for i in range(3)]
        await asyncio.sleep(1.5)
        await first.kill_9()
        # Everyone sees the server vanish; nothing hangs.
        _, pending = await asyncio.wait([*producers, *workers], timeout=RPC_TIMEOUT + 5)
        stop.set()
        if pending:
            await stop_tasks([*producers, *workers])
        assert not pending, "producers or workers still running 15 s after the kill"
        worker_codes = [task.result() for task in workers]
        for task in producers:
            task.result()  # no assertion failed inside

    killed_at = time.monotonic()
    assert acknowledged, "nothing was enqueued before the kill"
    assert before.completed, "nothing was completed before the kill"
    assert refused_enqueues, "the producers never noticed the kill"
    assert all(code is not None for code in worker_codes), worker_codes

    # Right after the kill, before any restart: every acknowledged job is stored,
    # and every acknowledged completion is on record.
    stored = await rows(postgres)
    at_kill = Counter(status for status, _ in stored.values())
    missing = [i for i in acknowledged if i not in stored]
    assert missing == [], f"{len(missing)} acknowledged job(s) not in the database after kill -9"
    not_completed = [i for i in before.completed if stored[i][0] != "completed"]
    assert not_completed == [], f"acknowledged completions not recorded: {not_completed[:5]}"
    unacknowledged_stored = set(stored) - set(acknowledged)
    assert len(unacknowledged_stored) <= len(refused_enqueues)

    # A new server on the same database finishes the work; the dead server's leases run out.
    second = await start_server(STACKDUCK_LEASE_SECONDS="2")
    after = Ledger()
    async with grpc.aio.insecure_channel(second.address) as channel:
        stub = StackDuckServiceStub(channel)
        workers = [asyncio.create_task(work(stub, f"after-{i}", after)) for i in range(3)]
        try:
            deadline = time.monotonic() + 60
            while True:
                stored = await rows(postgres)
                pending_jobs = {i: s for i, s in stored.items() if s[0] != "completed"}
                if not pending_jobs:
                    break
                if time.monotonic() > deadline or any(t.done() for t in workers):
                    log = await asyncio.to_thread(second.log)
                    raise AssertionError(
                        f"{len(pending_jobs)} job(s) not completed 60 s after the restart "
                        f"(e.g. {list(pending_jobs.items())[:5]}); workers that stopped: "
                        f"{[t.exception() or t.result() for t in workers if t.done()]}; "
                        f"server log tail:\n{log[-3000:]}"
                    )
                await asyncio.sleep(0.2)
        finally:
            await stop_tasks(workers)
    recovered_at = time.monotonic()

    stored = await rows(postgres)
    # None lost: every acknowledged job is there, completed.
    assert [i for i in acknowledged if stored.get(i, ("missing",))[0] != "completed"] == []
    # Jobs completed before the kill stay completed, by the attempt that completed them,
    # and are never handed out again.
    assert [i for i, token in before.completed.items() if stored[i] != ("completed", token)] == []
    assert set(before.completed) & set(after.deliveries) == set()
    # Every job completed once per side of the kill, and no job held twice at once.
    assert [i for i, n in (before.completions + after.completions).items() if n > 1] == []
    assert before.overlaps == [] and after.overlaps == []
    # The books balance: every row is counted once, all of them completed, no dead letters.
    by_status, total = await books(postgres)
    assert sum(by_status.values()) == total == len(stored)
    assert by_status == {"completed": total}
    assert total == len(acknowledged) + len(unacknowledged_stored)
    print(
        f"\nkill -9: {len(acknowledged)} acknowledged, {len(before.completed)} completed before the kill, "
        f"{len(unacknowledged_stored)} stored unacknowledged, {len(after.completed)} completed after; "
        f"at the kill the database held {dict(at_kill)}; "
        f"killed at {killed_at - started:.1f} s, all completed {recovered_at - killed_at:.1f} s later "
        f"(refused CompleteJob after restart: {len(after.refused)})"
    )


TOTAL = 5000
WORKERS_PER_INSTANCE = 4
PRODUCERS_PER_INSTANCE = 4


async def test_two_instances_share_one_database_without_double_delivery(
    start_server: StartServer, postgres: str
) -> None:
    servers = await asyncio.gather(start_server(), start_server())
    channels = [grpc.aio.insecure_channel(s.address) for s in servers]
    stubs = [StackDuckServiceStub(c) for c in channels]
    ledger = Ledger(target=TOTAL)
    workers: list[asyncio.Task[grpc.StatusCode | None]] = []
    try:
        workers = [
            asyncio.create_task(work(stubs[i % 2], f"w{i}-on-{'AB'[i % 2]}", ledger))
            for i in range(2 * WORKERS_PER_INSTANCE)
        ]
        started = time.monotonic()

        async def produce(k: int) -> list[str]:
            stub = stubs[k % 2]  # job n goes to instance n % 2: the instances alternate
            ids = []
            for n in range(k, TOTAL, 2 * PRODUCERS_PER_INSTANCE):
                reply = await stub.EnqueueJob(enqueue_request(n), timeout=RPC_TIMEOUT)
                assert reply.success
                ids.append(reply.job_id)
            return ids

        batches = await asyncio.gather(*(produce(k) for k in range(2 * PRODUCERS_PER_INSTANCE)))
        enqueued_in = time.monotonic() - started
        waiting = asyncio.ensure_future(ledger.reached.wait())
        finished, _ = await asyncio.wait([waiting, *workers], timeout=90, return_when=asyncio.FIRST_COMPLETED)
        if waiting not in finished:
            waiting.cancel()
            codes = [t.result() for t in workers if t.done()]
            raise AssertionError(
                f"{len(ledger.completed)} of {TOTAL} completed in 90 s (stream ends: {codes})"
            )
        elapsed = time.monotonic() - started
    finally:
        await stop_tasks(workers)
        for channel in channels:
            await channel.close()

    enqueued = [i for ids in batches for i in ids]
    assert len(set(enqueued)) == TOTAL
    assert set(ledger.deliveries) == set(enqueued)
    assert [i for i, n in ledger.deliveries.items() if n > 1] == []
    assert ledger.overlaps == []
    assert ledger.refused == []
    assert set(ledger.completed) == set(enqueued)
    assert [i for i, n in ledger.completions.items() if n > 1] == []
    by_instance = Counter(names[-1][-1] for names in ledger.delivered_to.values())
    assert by_instance["A"] > 0 and by_instance["B"] > 0, by_instance
    # The database agrees: each job completed, on its first and only attempt.
    stored = await rows(postgres)
    assert len(stored) == TOTAL
    assert {i: row for i, row in stored.items() if row != ("completed", 1)} == {}
    by_status, total = await books(postgres)
    assert by_status == {"completed": TOTAL} and total == TOTAL
    print(
        f"\ntwo instances: {TOTAL} jobs enqueued in {enqueued_in:.1f} s, all completed in {elapsed:.1f} s "
        f"(delivered by A: {by_instance['A']}, by B: {by_instance['B']})"
    )


@pytest.mark.parametrize("channel", ["postgres", "redis"])
async def test_a_job_enqueued_on_one_instance_wakes_a_worker_on_the_other(
    start_server: StartServer, channel: str, request: pytest.FixtureRequest
) -> None:
    """Through PostgreSQL's LISTEN/NOTIFY, or Redis pub/sub (Redis over Postgres); the
    instances publish wake-ups once they have heard each other say they are here."""
    env: dict[str, str] = {}
    if channel == "redis":
        env = {
            "REDIS_URL": request.getfixturevalue("redis_server"),
            "STACKDUCK_REDIS_PREFIX": request.getfixturevalue("redis_prefix"),
        }
    a, b = await asyncio.gather(start_server(**env), start_server(**env))
    async with grpc.aio.insecure_channel(a.address) as to_a, grpc.aio.insecure_channel(b.address) as to_b:
        stub_a, stub_b = StackDuckServiceStub(to_a), StackDuckServiceStub(to_b)
        stream = stub_b.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="on-b", job_types=[JOB_TYPE]))
        try:

            async def round_trip(n: int) -> float:
                """Enqueue on A; the seconds until the job arrives on B's stream."""
                sent = time.monotonic()
                reply = await stub_a.EnqueueJob(enqueue_request(n), timeout=RPC_TIMEOUT)
                message = await asyncio.wait_for(stream.read(), 10)
                arrived = time.monotonic()
                assert message is not grpc.aio.EOF
                assert message.job.id == reply.job_id
                done = await stub_b.CompleteJob(
                    pb.CompleteJobRequest(job_id=reply.job_id, lease_token=message.job.lease_token),
                    timeout=RPC_TIMEOUT,
                )
                assert done.success
                return arrived - sent

            # The first round proves the stream and B's listener are up (B wakes every
            # consumer when its listener connects, so it may not measure the notification).
            await round_trip(0)
            latencies = []
            for n in range(1, 6):
                await asyncio.sleep(0.3)  # B's stream is idle again, waiting for a wake-up
                latencies.append(await round_trip(n))
        finally:
            stream.cancel()

    print(
        f"\ncross-instance wake-up: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} jobs"
    )
    # Without the notification B would find the job only at its idle re-check (5 s).
    assert max(latencies) < 1.0, latencies


async def test_results_attempts_metadata_and_keys_survive_kill_9(start_server: StartServer) -> None:
    first = await start_server()
    async with grpc.aio.insecure_channel(first.address) as channel:
        stub = StackDuckServiceStub(channel)
        enqueued = await stub.EnqueueJob(
            pb.EnqueueJobRequest(
                job_type=JOB_TYPE, payload="{}", metadata={"tenant": "t1"}, idempotency_key="order-7"
            ),
            timeout=RPC_TIMEOUT,
        )
        job_id = enqueued.job_id
        for attempt in (1, 2):
            taken = await stub.DequeueJob(pb.DequeueJobRequest(queue_name=JOB_TYPE, worker_id=f"w{attempt}"))
            assert taken.job.id == job_id
            if attempt == 1:
                await stub.FailJob(
                    pb.FailJobRequest(job_id=job_id, lease_token=1, error_message="flaky", retry_in=0)
                )
        await stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=2, result='{"total": 7}'))
    await first.kill_9()

    second = await start_server()
    async with grpc.aio.insecure_channel(second.address) as channel:
        stub = StackDuckServiceStub(channel)
        job = await stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=RPC_TIMEOUT)
        again = await stub.EnqueueJob(
            pb.EnqueueJobRequest(job_type=JOB_TYPE, payload="{}", idempotency_key="order-7"),
            timeout=RPC_TIMEOUT,
        )

    assert (job.status, job.result, dict(job.metadata)) == ("completed", '{"total": 7}', {"tenant": "t1"})
    assert [(a.number, a.worker_id, a.outcome, a.error) for a in job.attempts] == [
        (1, "w1", "failed", "flaky"),
        (2, "w2", "completed", ""),
    ]
    assert (again.job_id, again.duplicate) == (job_id, True)


@pytest.mark.parametrize("storage", ["postgres", "redis+postgres", "redis"])
async def test_a_tick_fires_once_while_instances_are_killed_around_it(
    start_server: StartServer, storage: str, request: pytest.FixtureRequest
) -> None:
    """Two instances fire one schedule every second; one of them is killed with SIGKILL just
    after a tick, four times over, and started again. Every tick in between enqueues
    exactly one job, and none is skipped (the survivor, or the restarted one, fires it)."""
    env: dict[str, str] = {}
    if "redis" in storage:
        env = {
            "REDIS_URL": request.getfixturevalue("redis_server"),
            "STACKDUCK_REDIS_PREFIX": request.getfixturevalue("redis_prefix"),
        }
    if storage == "redis":
        env["DATABASE_URL"] = ""  # Redis alone: the record in Redis
    servers = [await start_server(**env), await start_server(**env)]
    async with grpc.aio.insecure_channel(servers[0].address) as channel:
        stub = StackDuckServiceStub(channel)
        request_ = pb.PutScheduleRequest(
            name="every-second", job=pb.EnqueueJobRequest(job_type="tick", payload="{}"), every_seconds=1
        )
        await stub.PutSchedule(request_, timeout=RPC_TIMEOUT)
    first_tick = int(time.time()) + 1
    for round_ in range(4):
        # Just after a whole second: the tick's fire step is running, or about to.
        await asyncio.sleep(1 - time.time() % 1 + 0.002)
        victim = servers[round_ % 2]
        await victim.kill_9()
        servers[round_ % 2] = await start_server(**env)
    await asyncio.sleep(1 - time.time() % 1 + 0.5)
    last_tick = int(time.time()) - 1

    async with grpc.aio.insecure_channel(servers[0].address) as channel:
        stub = StackDuckServiceStub(channel)
        listed = await stub.ListJobs(pb.ListJobsRequest(job_type="tick", limit=1000), timeout=RPC_TIMEOUT)
    ticks = [(job.scheduled_at, job.idempotency_key) for job in listed.jobs]
    per_tick = Counter(due for due, _ in ticks)
    assert all(count == 1 for count in per_tick.values()), per_tick
    assert len({key for _, key in ticks}) == len(ticks)
    missing = [t for t in range(first_tick, last_tick + 1) if t not in per_tick]
    assert not missing, (missing, sorted(per_tick))
