"""Redis faults under load, on "redis+postgres" (Postgres the record, Redis the ready queue).

Each test runs an in-process server against a private redis-server, with producers
enqueueing and workers completing all along, and breaks Redis mid-load: SIGKILL then
restart on the same port, FLUSHALL, SIGSTOP (a hung Redis) then SIGCONT. The server
must fall back to memory (degraded) and keep serving, return to Redis by itself, and
lose nothing: every acknowledged job ends completed, each exactly once, and the
books in Postgres balance. Then Redis losing part of the queue while keeping its
marker (restarted from an older snapshot, keys gone): what it lost is put back from
the record within seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import psycopg
import pytest

from stackduck.adapters.failover import FailoverReadyQueue
from stackduck.container import Container, build_container, close_resources, provide
from stackduck.domain.errors import StorageUnavailable
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from stackduck.entrypoints.grpc.server import GrpcServer
from stackduck.settings import Settings
from tests.books import books
from tests.proxy import Proxy
from tests.redis_server import HOST, RedisServer, private_redis

pytestmark = pytest.mark.slow

JOB_TYPE = "faulty"
PREFIX = "stackduck-faults"
SEEDED_KEY = f"{PREFIX}:seeded"
LEASE_SECONDS = 3  # a job held across a failure comes back within seconds
RPC_TIMEOUT = 10.0  # no unary call may hang a test
PRODUCERS = 2
WORKERS = 4
WORK_SECONDS = 0.03  # per job while under load: workers slower than producers, so a backlog builds
DRAIN_SECONDS = 60.0
DELIVERY_SECONDS = 30.0  # every job queued in Postgres is delivered this soon, whatever Redis lost


# --- the pieces: a private Redis, a server on it ------------------------------------------


@pytest.fixture
def redis_process() -> Iterator[RedisServer]:
    with private_redis() as server:
        yield server


@pytest.fixture
def via_proxy() -> bool:
    """Whether the server reaches Redis through a TCP proxy the test can point elsewhere."""
    return False


@pytest.fixture
async def redis_proxy(redis_process: RedisServer, via_proxy: bool) -> AsyncIterator[Proxy | None]:
    if not via_proxy:
        yield None
        return
    proxy = Proxy(HOST, redis_process.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.cut()


@pytest.fixture
def redis_url(redis_process: RedisServer, redis_proxy: Proxy | None) -> str:
    return redis_process.url if redis_proxy is None else f"redis://{HOST}:{redis_proxy.port}/0"


@pytest.fixture
def reconcile_seconds() -> float:
    """How often one instance checks the whole ready queue against the record: the
    default, so that only what a test provokes puts lost entries back."""
    return 300.0


@dataclass
class Served:
    container: Container
    server: GrpcServer
    channel: grpc.aio.Channel
    stub: StackDuckServiceStub
    queue: FailoverReadyQueue


@pytest.fixture
async def served(
    postgres: str, redis_process: RedisServer, redis_url: str, reconcile_seconds: float
) -> AsyncIterator[Served]:
    settings = Settings(
        SERVER_ADDR="127.0.0.1:0",
        DATABASE_URL=postgres,
        REDIS_URL=redis_url,
        STACKDUCK_REDIS_PREFIX=PREFIX,
        STACKDUCK_LEASE_SECONDS=LEASE_SECONDS,
        STACKDUCK_REDIS_RECONCILE_SECONDS=reconcile_seconds,
    )
    assert settings.storage == "redis+postgres"
    container = build_container(settings)
    server = await provide(container.grpc_server)
    await server.start()
    channel = grpc.aio.insecure_channel(server.address)
    try:
        queue = await provide(container.queue)
        assert isinstance(queue, FailoverReadyQueue)
        assert not queue.degraded, "the server started degraded on a healthy Redis"
        yield Served(container, server, channel, StackDuckServiceStub(channel), queue)
    finally:
        redis_process.cont()  # a test that failed mid-SIGSTOP must not hang the shutdown
        await channel.close()
        await server.stop(0)
        await close_resources(container)


# --- the load: producers, workers, and what they saw ----------------------------------------


def now() -> float:
    return time.monotonic()


@dataclass
class Load:
    stub: StackDuckServiceStub
    pause: float = WORK_SECONDS
    acknowledged: list[str] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    enqueue_seconds: list[tuple[float, float]] = field(default_factory=list)  # (answered at, took)
    enqueue_errors: list[str] = field(default_factory=list)  # not acknowledged: maybe stored
    deliveries: Counter[tuple[str, int]] = field(default_factory=Counter)  # (job, lease token)
    completions: Counter[str] = field(default_factory=Counter)
    done_times: list[float] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # CompleteJob: FAILED_PRECONDITION
    complete_errors: list[str] = field(default_factory=list)  # CompleteJob: any other failure
    stream_ends: list[str] = field(default_factory=list)
    producing: bool = True
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _producers: list[asyncio.Task[None]] = field(default_factory=list)
    _workers: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._producers = [asyncio.create_task(self._produce()) for _ in range(PRODUCERS)]
        self.start_workers()

    def start_workers(self) -> None:
        self._workers = [asyncio.create_task(self._work(f"worker-{i}")) for i in range(WORKERS)]

    async def stop_producers(self) -> None:
        self.producing = False
        await asyncio.gather(*self._producers)  # each finishes its current call (bounded by timeout)

    async def stop(self) -> None:
        self.producing = False
        tasks = [*self._producers, *self._workers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def crashed(self) -> list[BaseException]:
        tasks = [*self._producers, *self._workers]
        return [exc for t in tasks if t.done() and not t.cancelled() and (exc := t.exception())]

    async def _produce(self) -> None:
        while self.producing:
            n = next(self._numbers)
            # delay=1, max_retries=10: a job whose lease ran out is back within seconds
            request = pb.EnqueueJobRequest(
                job_type=JOB_TYPE, payload=f'{{"n": {n}}}', delay=1, max_retries=10
            )
            sent = now()
            try:
                reply = await self.stub.EnqueueJob(request, timeout=RPC_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                self.enqueue_errors.append(f"{exc.code().name}: {exc.details()}")
                await asyncio.sleep(0.05)
                continue
            assert reply.success and reply.job_id
            answered = now()
            self.acknowledged.append(reply.job_id)
            self.ack_times.append(answered)
            self.enqueue_seconds.append((answered, answered - sent))
            await asyncio.sleep(0.005)

    async def _work(self, worker: str) -> None:
        """Consume and complete with the lease token; reconnect if the stream ends."""
        while True:
            stream = self.stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id=worker, job_types=[JOB_TYPE]))
            try:
                async for message in stream:
                    await self._complete(worker, message.job)
                self.stream_ends.append(f"{worker}: the stream ended")
            except grpc.aio.AioRpcError as exc:
                self.stream_ends.append(f"{worker}: {exc.code().name}: {exc.details()}")
            finally:
                stream.cancel()
            await asyncio.sleep(0.2)

    async def _complete(self, worker: str, job: pb.Job) -> None:
        self.deliveries[(job.id, job.lease_token)] += 1
        if self.pause:
            await asyncio.sleep(self.pause)
        request = pb.CompleteJobRequest(job_id=job.id, lease_token=job.lease_token, worker_id=worker)
        try:
            reply = await self.stub.CompleteJob(request, timeout=RPC_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            entry = f"{job.id} (token {job.lease_token}): {exc.code().name}: {exc.details()}"
            if exc.code() is grpc.StatusCode.FAILED_PRECONDITION:
                self.refused.append(entry)  # someone else holds it now: not a double completion
            else:
                self.complete_errors.append(entry)
            return
        assert reply.success
        self.completions[job.id] += 1
        self.done_times.append(now())

    def acks_between(self, start: float, end: float) -> int:
        return sum(start <= t <= end for t in self.ack_times)

    def done_between(self, start: float, end: float) -> int:
        return sum(start <= t <= end for t in self.done_times)

    def slowest_enqueue(self, start: float, end: float) -> float:
        return max((took for at, took in self.enqueue_seconds if start <= at <= end), default=0.0)


@dataclass
class Tiers:
    """Samples ``queue.degraded`` every 10 ms: when the server switched tiers."""

    queue: FailoverReadyQueue
    changes: list[tuple[float, bool]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.changes.append((now(), self.queue.degraded))
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            if self.queue.degraded != self.changes[-1][1]:
                self.changes.append((now(), self.queue.degraded))

    async def until(self, degraded: bool, since: float, seconds: float) -> float:
        """Seconds from ``since`` until the server is (or is not) degraded; fails after ``seconds``."""
        deadline = since + seconds
        while self.queue.degraded is not degraded:
            state = "degraded" if degraded else "back on Redis"
            assert now() < deadline, f"the server was not {state} {seconds} s after the fault"
            await asyncio.sleep(0.01)
        return now() - since


@pytest.fixture
async def load(served: Served) -> AsyncIterator[Load]:
    running = Load(served.stub)
    yield running
    await running.stop()


@pytest.fixture
async def tiers(served: Served) -> AsyncIterator[Tiers]:
    sampler = Tiers(served.queue)
    sampler.start()
    yield sampler
    await sampler.stop()


# --- Postgres, read directly ------------------------------------------------------------------


async def statuses(url: str) -> dict[str, str]:
    """Every job in the database: id → status."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT id::text, status FROM stackduck_jobs")
        return {job_id: status for job_id, status in await cursor.fetchall()}


async def backlog(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT count(*) FROM stackduck_jobs WHERE status = 'queued'")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


# --- the end of every test: drain, then check the books -----------------------------------


async def drain_and_check(load: Load, served: Served, postgres: str) -> dict[str, Any]:
    """Stop the producers, let the workers finish everything, and check that nothing was
    lost, nothing completed twice, and the books balance. Returns figures to print."""
    await load.stop_producers()
    load.pause = 0.0
    started = now()
    while True:
        stored = await statuses(postgres)
        pending = {i: s for i, s in stored.items() if s != "completed"}
        missing = [i for i in load.acknowledged if i not in stored]
        # Quiet: everything completed in Postgres, and every CompleteJob answer reached its worker.
        if not pending and not missing and set(load.completions) == set(stored):
            break
        if now() - started > DRAIN_SECONDS or load.crashed():
            raise AssertionError(
                f"not drained {now() - started:.0f} s after the producers stopped: "
                f"{len(pending)} job(s) not completed (e.g. {list(pending.items())[:5]}), "
                f"{len(missing)} acknowledged job(s) missing from Postgres; degraded="
                f"{served.queue.degraded}; crashed tasks: {load.crashed()}; "
                f"stream ends: {load.stream_ends[:5]}; CompleteJob errors: {load.complete_errors[:5]}"
            )
        await asyncio.sleep(0.1)
    drained_in = now() - started
    await load.stop()

    # None lost: every acknowledged job is in Postgres, completed.
    assert [i for i in load.acknowledged if stored.get(i) != "completed"] == []
    # None completed twice: each job's CompleteJob succeeded exactly once (a refused
    # CompleteJob — someone else held the job by then — is not a completion).
    assert [i for i, n in load.completions.items() if n > 1] == []
    assert set(load.completions) == set(stored)
    # Ownership by the record's compare-and-set: no lease token was handed out twice.
    assert [d for d, n in load.deliveries.items() if n > 1] == []
    # CompleteJob touches Postgres only: a Redis fault must never fail it.
    assert load.complete_errors == []
    # The books balance, at a quiet moment: every row counted once, all completed.
    by_status, total = await books(postgres)
    assert sum(by_status.values()) == total == len(stored)
    assert by_status == {"completed": total}
    unacknowledged = set(stored) - set(load.acknowledged)
    assert len(unacknowledged) <= len(load.enqueue_errors)
    assert total == len(load.acknowledged) + len(unacknowledged)
    # And the server is on Redis again.
    assert served.queue.degraded is False
    return {
        "acknowledged": len(load.acknowledged),
        "stored unacknowledged": len(unacknowledged),
        "enqueue errors": len(load.enqueue_errors),
        "refused CompleteJob": len(load.refused),
        "redeliveries": len(load.deliveries) - len(load.completions),
        "stream ends": len(load.stream_ends),
        "drained in": f"{drained_in:.1f} s",
    }


async def warm_up(load: Load, seconds: float = 1.0) -> None:
    load.start()
    await asyncio.sleep(seconds)
    assert load.acknowledged and load.completions, "no load before the fault"
    assert not load.crashed(), load.crashed()


# --- the tests -----------------------------------------------------------------------------------


async def test_sigkill_then_restart_on_the_same_port(
    served: Served, redis_process: RedisServer, load: Load, tiers: Tiers, postgres: str
) -> None:
    await warm_up(load)
    queued = await backlog(postgres)

    killed = now()
    await asyncio.to_thread(redis_process.kill)
    to_degraded = await tiers.until(True, killed, 2.0)
    await asyncio.sleep(max(0.0, killed + 2.0 - now()))
    # Degraded, the server keeps accepting jobs and handing them out.
    assert served.queue.degraded
    restarting = now()
    degraded_acks = load.acks_between(killed + to_degraded, restarting)
    degraded_done = load.done_between(killed + to_degraded, restarting)
    assert degraded_acks > 0, "no EnqueueJob was acknowledged while degraded"
    assert degraded_done > 0, "no job was completed while degraded"

    await asyncio.to_thread(redis_process.restart)
    restarted = now()
    to_redis = await tiers.until(False, restarted, 5.0)
    assert await asyncio.to_thread(redis_process.exists, SEEDED_KEY)
    await asyncio.sleep(1.0)  # load on Redis again
    after = load.done_between(restarted + to_redis, now())
    assert after > 0, "no job was completed after the return to Redis"
    assert not served.queue.degraded

    figures = await drain_and_check(load, served, postgres)
    print(
        f"\nSIGKILL: backlog at the kill {queued}; degraded {to_degraded * 1000:.0f} ms after the kill; "
        f"while degraded {degraded_acks} acknowledged, {degraded_done} completed; "
        f"back on Redis {to_redis * 1000:.0f} ms after the restart ({after} completed in the next second); "
        f"tier changes {[(round(t - killed, 2), d) for t, d in tiers.changes[1:]]}; {figures}"
    )


async def test_flushall_reseeds_from_the_record(
    served: Served, redis_process: RedisServer, load: Load, tiers: Tiers, postgres: str
) -> None:
    await warm_up(load)
    queued = await backlog(postgres)
    assert queued > 0, "no backlog in the queue to lose at the flush"

    flushed = now()
    await asyncio.to_thread(redis_process.flushall)
    deadline = flushed + 3.0
    while not await asyncio.to_thread(redis_process.exists, SEEDED_KEY):
        assert now() < deadline, "Redis was not re-seeded 3 s after FLUSHALL"
        await asyncio.sleep(0.01)
    to_reseeded = now() - flushed
    done_before = sum(load.completions.values())
    await asyncio.sleep(1.5)  # jobs keep flowing
    assert sum(load.completions.values()) > done_before, "no job was completed after the re-seed"
    # A flush is no failure: Redis answered all along, so the server never left it.
    assert [d for _, d in tiers.changes] == [False], tiers.changes

    figures = await drain_and_check(load, served, postgres)
    print(
        f"\nFLUSHALL: backlog at the flush {queued}; '{SEEDED_KEY}' back {to_reseeded * 1000:.0f} ms "
        f"after the flush; {figures}"
    )


async def test_sigstop_hung_redis_then_sigcont(
    served: Served, redis_process: RedisServer, load: Load, tiers: Tiers, postgres: str
) -> None:
    await warm_up(load)
    queued = await backlog(postgres)

    stopped = now()
    redis_process.stop()
    # Commands time out after ~1 s (and are retried once), so allow a few seconds.
    to_degraded = await tiers.until(True, stopped, 5.0)
    await asyncio.sleep(max(0.0, stopped + 10.0 - now()))
    assert served.queue.degraded
    resuming = now()
    degraded_acks = load.acks_between(stopped + to_degraded, resuming)
    degraded_done = load.done_between(stopped + to_degraded, resuming)
    slowest = load.slowest_enqueue(stopped + to_degraded, resuming)
    assert degraded_acks > 0, "no EnqueueJob was acknowledged while degraded"
    assert degraded_done > 0, "no job was completed while degraded"

    redis_process.cont()
    continued = now()
    to_redis = await tiers.until(False, continued, 5.0)
    await asyncio.sleep(1.0)  # load on Redis again
    after = load.done_between(continued + to_redis, now())
    assert after > 0, "no job was completed after the return to Redis"
    assert not served.queue.degraded

    figures = await drain_and_check(load, served, postgres)
    print(
        f"\nSIGSTOP 10 s: backlog at the stop {queued}; degraded {to_degraded * 1000:.0f} ms after the "
        f"stop; while degraded {degraded_acks} acknowledged (slowest EnqueueJob {slowest:.2f} s), "
        f"{degraded_done} completed; back on Redis {to_redis * 1000:.0f} ms after SIGCONT "
        f"({after} completed in the next second); "
        f"tier changes {[(round(t - stopped, 2), d) for t, d in tiers.changes[1:]]}; {figures}"
    )


async def test_enqueue_does_not_wait_on_a_hung_redis(
    served: Served, redis_process: RedisServer, tiers: Tiers
) -> None:
    def request(n: int) -> pb.EnqueueJobRequest:
        return pb.EnqueueJobRequest(job_type=JOB_TYPE, payload=f'{{"n": {n}}}')

    sent = now()
    assert (await served.stub.EnqueueJob(request(0), timeout=RPC_TIMEOUT)).success
    healthy = now() - sent

    stopped = now()
    redis_process.stop()
    try:
        to_degraded = await tiers.until(True, stopped, 5.0)
        took = []
        for n in range(1, 3):  # degraded already: the queue is in memory, nothing should wait on Redis
            sent = now()
            assert (await served.stub.EnqueueJob(request(n), timeout=RPC_TIMEOUT)).success
            took.append(now() - sent)
    finally:
        redis_process.cont()
    print(
        f"\nEnqueueJob on a healthy Redis {healthy * 1000:.0f} ms; degraded {to_degraded:.1f} s after "
        f"SIGSTOP; EnqueueJob while degraded: {[f'{t:.2f} s' for t in took]}"
    )
    assert max(took) < 0.5, f"EnqueueJob took {max(took):.2f} s with the queue served from memory"


# --- Redis loses part of the queue and keeps its marker ----------------------------------------


async def enqueue_batch(load: Load, count: int, **fields: Any) -> list[str]:
    """``count`` jobs in one EnqueueJobs call, acknowledged (so they must be delivered)."""
    jobs = [pb.EnqueueJobRequest(job_type=JOB_TYPE, payload=f'{{"n": {n}}}', **fields) for n in range(count)]
    reply = await load.stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=jobs), timeout=RPC_TIMEOUT)
    assert len(reply.job_ids) == count
    load.acknowledged.extend(reply.job_ids)
    return list(reply.job_ids)


async def delivered_within(load: Load, since: float, seconds: float = DELIVERY_SECONDS) -> float:
    """Seconds from ``since`` until every acknowledged job was completed; fails after ``seconds``."""
    while set(load.completions) != set(load.acknowledged):
        missing = set(load.acknowledged) - set(load.completions)
        assert now() < since + seconds, (
            f"{len(missing)} of {len(load.acknowledged)} queued job(s) not delivered {seconds:.0f} s "
            f"after Redis lost them (e.g. {sorted(missing)[:3]}); crashed tasks: {load.crashed()}"
        )
        await asyncio.sleep(0.05)
    return now() - since


@pytest.mark.parametrize("via_proxy", [True])
async def test_a_restart_from_an_older_snapshot_loses_no_queued_job(
    served: Served,
    redis_process: RedisServer,
    redis_proxy: Proxy,
    load: Load,
    tiers: Tiers,
    postgres: str,
) -> None:
    """Redis restarted from an RDB file older than its last writes keeps the marker of a
    seeded queue but lacks the entries written since. A server that saw no outage (the
    restart fell between two looks) sees another redis-server answer (its run id) and
    puts them back from the record.

    The restart: a redis-server started from the snapshot takes over the address the
    server knows (the proxy's) and the old one is killed, so the server finds its
    connections broken and the new process answering at once, never a refused
    connection that would make it fail over (and re-seed everything)."""
    load.pause = 0.0
    before = await enqueue_batch(load, 300)
    snapshot = await asyncio.to_thread(redis_process.snapshot)
    after = await enqueue_batch(load, 200)
    after += await enqueue_batch(load, 50, scheduled_in=1.0)  # waiting for their time: the other set

    with private_redis(snapshot) as older:
        assert await asyncio.to_thread(older.exists, SEEDED_KEY), "the snapshot lacks the marker"
        restarted = now()
        redis_proxy.retarget(HOST, older.port)
        await asyncio.to_thread(redis_process.kill)
        load.start_workers()
        took = await delivered_within(load, restarted)
        assert [d for _, d in tiers.changes] == [False], "the server failed over: not the case tested"
        figures = await drain_and_check(load, served, postgres)
    print(
        f"\nrestart from an older snapshot: {len(before)} jobs in it, {len(after)} enqueued after it; "
        f"all delivered {took:.1f} s after the restart; sweeps {served.queue.reconciler.sweeps}; {figures}"
    )


def lose_the_queue(redis_process: RedisServer) -> int:
    """What eviction does to the queue: its keys gone, the marker and the process kept."""
    with redis_process.client() as client:
        return int(client.delete(f"{PREFIX}:{{{JOB_TYPE}}}:ready", f"{PREFIX}:{{{JOB_TYPE}}}:scheduled"))


@pytest.mark.parametrize("reconcile_seconds", [1.0])
async def test_the_periodic_check_puts_back_entries_lost_without_a_restart(
    served: Served, redis_process: RedisServer, load: Load, postgres: str
) -> None:
    load.pause = 0.0
    await enqueue_batch(load, 300)
    await enqueue_batch(load, 50, scheduled_in=1.0)
    run_id = await asyncio.to_thread(redis_process.run_id)
    lost = now()
    assert await asyncio.to_thread(lose_the_queue, redis_process) == 2
    load.start_workers()
    took = await delivered_within(load, lost)
    assert await asyncio.to_thread(redis_process.run_id) == run_id
    figures = await drain_and_check(load, served, postgres)
    print(f"\nqueue keys deleted: all delivered {took:.1f} s later (checked every 1 s); {figures}")


async def test_evictions_ask_for_a_check_at_once(
    served: Served, redis_process: RedisServer, load: Load, postgres: str
) -> None:
    """Keys evicted under maxmemory (here another application's, then the queue's own
    deleted as eviction would) start a check without waiting for the periodic one."""
    load.pause = 0.0
    await enqueue_batch(load, 300)
    lost = now()
    assert await asyncio.to_thread(lose_the_queue, redis_process) == 1
    await asyncio.to_thread(evict_some_keys, redis_process)
    load.start_workers()
    took = await delivered_within(load, lost, seconds=10.0)  # the periodic check is 300 s away
    figures = await drain_and_check(load, served, postgres)
    print(f"\nqueue keys lost and keys evicted: all delivered {took:.1f} s later; {figures}")


def evict_some_keys(redis_process: RedisServer) -> None:
    """Fill Redis past a small maxmemory with keys that may expire (volatile-lru evicts
    only those, never the queue's), then lift the limit."""
    with redis_process.client() as client:
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory-policy", "volatile-lru")
        client.config_set("maxmemory", used + 2 * 2**20)
        try:
            for n in range(100):
                client.set(f"other-app:{n}", "x" * 100_000, ex=3600)
            assert int(client.info("stats")["evicted_keys"]) > 0
        finally:
            client.config_set("maxmemory", 0)


async def test_a_claim_in_flight_while_the_server_closes_does_not_fail_over(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Closing closes the Redis client: work still in flight gets the error, and no
    outage is declared (nor the queue rebuilt from the record) for it."""
    queue = served.queue
    queue.close()  # what the backend does first when it closes
    await queue._primary._client.connection_pool.close()  # then the client goes

    with pytest.raises(StorageUnavailable):
        await queue.pop(["mail"], time.time(), 1)

    assert not queue.degraded
    assert not [r for r in caplog.records if "DEGRADED" in r.getMessage()]
