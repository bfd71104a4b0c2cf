"""Concurrency and rate limits over gRPC on every storage configuration: a limit is never
exceeded, across instances too, while workers die and leases expire; held jobs go out in
order as room comes; a change reaches every instance within a second; limits survive a
restart; bad input is refused and changes nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.conftest import one_process
from tests.integration.conftest import Running, ServerFactory

pytestmark = pytest.mark.slow


def shared(storage_settings: dict[str, str]) -> None:
    if one_process(storage_settings):
        pytest.skip("one process owns this storage: there is no second instance to share it")


async def limits(server: Running) -> dict[str, pb.LimitStatus]:
    reply = await server.stub.ListLimits(pb.ListLimitsRequest())
    return {limit.job_type: limit for limit in reply.limits}


class Worker:
    """A ConsumeJobs stream whose jobs are answered by the test; it records each start."""

    def __init__(self, server: Running, job_type: str, worker_id: str, max_in_flight: int = 10) -> None:
        self.server = server
        self.stream = server.stub.ConsumeJobs(
            pb.ConsumeJobsRequest(worker_id=worker_id, job_types=[job_type], max_in_flight=max_in_flight)
        )
        self.held: list[pb.Job] = []
        self.started: list[tuple[float, pb.Job]] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.stream:
            if message.HasField("job"):
                self.held.append(message.job)
                self.started.append((time.monotonic(), message.job))

    async def complete_one(self) -> bool:
        """Complete the oldest held job; False if its lease had expired meanwhile."""
        job = self.held.pop(0)
        request = pb.CompleteJobRequest(job_id=job.id, lease_token=job.lease_token)
        try:
            await self.server.stub.CompleteJob(request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is not grpc.StatusCode.FAILED_PRECONDITION:
                raise
            return False
        return True

    def close(self) -> None:
        self.stream.cancel()
        self.task.cancel()


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
    made: list[Worker] = []
    yield made
    for worker in made:
        worker.close()


async def until(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.02)


async def test_set_list_and_clear_a_limit(server: Running) -> None:
    status = await server.stub.SetLimit(pb.SetLimitRequest(job_type="mail", concurrency=3))
    assert (status.job_type, status.concurrency, status.rate, status.running) == ("mail", 3, 0.0, 0)
    assert not status.HasField("tokens")
    rated = await server.stub.SetLimit(pb.SetLimitRequest(job_type="api", rate=5, per=2))
    assert (rated.rate, rated.per, rated.burst, rated.tokens) == (5.0, 2.0, 5, 5.0)

    assert list(await limits(server)) == ["api", "mail"]
    assert (await server.stub.ClearLimit(pb.ClearLimitRequest(job_type="mail"))).cleared
    assert not (await server.stub.ClearLimit(pb.ClearLimitRequest(job_type="mail"))).cleared
    assert list(await limits(server)) == ["api"]


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (pb.SetLimitRequest(job_type="mail"), "needs concurrency"),
        (pb.SetLimitRequest(job_type="", concurrency=1), "job_type"),
        (pb.SetLimitRequest(job_type="mail", concurrency=2_000_000), "concurrency must be"),
        (pb.SetLimitRequest(job_type="mail", rate=float("nan")), "rate must be"),
        (pb.SetLimitRequest(job_type="mail", rate=-1), "rate must be"),
        (pb.SetLimitRequest(job_type="mail", rate=1, per=100_000), "per must be"),
        (pb.SetLimitRequest(job_type="mail", concurrency=1, burst=5), "give rate with them"),
    ],
)
async def test_a_bad_limit_is_refused_and_changes_nothing(
    server: Running, request_: pb.SetLimitRequest, words: str
) -> None:
    await server.stub.SetLimit(pb.SetLimitRequest(job_type="mail", concurrency=7))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await server.stub.SetLimit(request_)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert words in (refused.value.details() or "")
    assert (await limits(server))["mail"].concurrency == 7


async def test_held_jobs_start_in_order_as_running_ones_end(server: Running, workers: list[Worker]) -> None:
    await server.stub.SetLimit(pb.SetLimitRequest(job_type="mail", concurrency=2))
    ids = [await server.enqueue("mail", f'{{"n": {i}}}') for i in range(6)]
    worker = Worker(server, "mail", "w1", max_in_flight=10)
    workers.append(worker)

    await until(lambda: len(worker.started) == 2)
    await asyncio.sleep(0.3)
    assert len(worker.started) == 2  # held back, though the stream has room
    assert (await limits(server))["mail"].running == 2
    for _ in range(4):
        count, ended = len(worker.started), time.monotonic()
        await worker.complete_one()
        await until(lambda count=count: len(worker.started) == count + 1, 2.0)  # type: ignore[misc]
        assert worker.started[-1][0] - ended < 1.0
    assert [job.id for _, job in worker.started] == ids  # never reordered


async def test_a_limit_holds_across_instances_while_workers_die_and_leases_expire(
    start_server: ServerFactory, storage_settings: dict[str, str], workers: list[Worker]
) -> None:
    one: Running = await start_server(STACKDUCK_LEASE_SECONDS="1")
    two: Running = (
        await start_server(STACKDUCK_LEASE_SECONDS="1") if not one_process(storage_settings) else one
    )
    await one.stub.SetLimit(pb.SetLimitRequest(job_type="mail", concurrency=3))
    await asyncio.sleep(1.1)  # the other instance's view of the limits is at most a second old
    for i in range(30):
        await (one if i % 2 else two).enqueue("mail", f'{{"n": {i}}}')
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, (await limits(one))["mail"].running)
            await asyncio.sleep(0.01)

    watcher = asyncio.ensure_future(watch())
    try:
        for n in range(6):
            workers.append(Worker(one if n % 2 else two, "mail", f"w{n}", max_in_flight=5))
        done = 0
        for round_ in range(8):
            await asyncio.sleep(0.2)
            for worker in workers:
                while worker.held and done < 30:
                    done += await worker.complete_one()
            if round_ == 2:
                workers[0].close()  # a worker gone: its jobs go back
            if round_ == 4:
                workers[1].stream.cancel()  # lost without a word: ...
                workers[1].task.cancel()
        running = (await limits(one))["mail"].running
        # The jobs the lost worker held come back as their leases expire: every one of
        # the thirty is done in the end, none lost, and the limit held all along.
        deadline = time.monotonic() + 20
        while done < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            for worker in workers[2:]:
                while worker.held and done < 30:
                    done += await worker.complete_one()
    finally:
        watcher.cancel()
    assert peak <= 3
    assert running <= 3
    assert done == 30
    completed = await one.stub.ListJobs(pb.ListJobsRequest(job_type="mail", status="completed", limit=100))
    assert len(completed.jobs) == 30


def within_one_bucket(starts: list[float], rate: float = 10, burst: int = 3) -> None:
    """Two seconds of starts under ``rate``/s with ``burst``: about as many as the bucket
    allows, and over any window no more than the burst and the rate over it."""
    assert burst + rate * 1.5 <= len(starts) <= burst + rate * 2.2
    for i, first in enumerate(starts):
        for last in starts[i:]:
            window = last - first
            inside = sum(1 for at in starts if first <= at <= last)
            assert inside <= burst + rate * window + 1, (inside, window)  # + 1: the edges' clock reads


async def test_a_rate_limit_holds_over_any_window(server: Running, workers: list[Worker]) -> None:
    await server.stub.SetLimit(pb.SetLimitRequest(job_type="api", rate=10, per=1, burst=3))
    for i in range(40):
        await server.enqueue("api", f'{{"n": {i}}}')
    worker = Worker(server, "api", "w", max_in_flight=100)
    workers.append(worker)
    await asyncio.sleep(2.0)

    within_one_bucket(sorted(at for at, _ in worker.started))


async def test_a_rate_limit_holds_across_instances(
    start_server: ServerFactory, storage_settings: dict[str, str], workers: list[Worker]
) -> None:
    """Two instances, a worker on each: their starts together stay within one bucket."""
    shared(storage_settings)
    one: Running = await start_server()
    two: Running = await start_server()
    await one.stub.SetLimit(pb.SetLimitRequest(job_type="api", rate=10, per=1, burst=3))
    await asyncio.sleep(1.1)  # the other instance's view of the limits is at most a second old
    for i in range(60):
        await (one if i % 2 else two).enqueue("api", f'{{"n": {i}}}')
    workers.extend([Worker(one, "api", "w1", max_in_flight=100), Worker(two, "api", "w2", max_in_flight=100)])
    await asyncio.sleep(2.0)

    within_one_bucket(sorted(at for worker in workers for at, _ in worker.started))


async def test_a_change_reaches_another_instance_within_a_second(
    start_server: ServerFactory, storage_settings: dict[str, str], workers: list[Worker]
) -> None:
    shared(storage_settings)
    one: Running = await start_server()
    two: Running = await start_server()
    await one.stub.SetLimit(pb.SetLimitRequest(job_type="mail", concurrency=1))
    await asyncio.sleep(1.1)
    for i in range(5):
        await one.enqueue("mail", f'{{"n": {i}}}')
    worker = Worker(two, "mail", "w", max_in_flight=10)
    workers.append(worker)
    await until(lambda: len(worker.started) == 1)
    await asyncio.sleep(0.3)
    assert len(worker.started) == 1

    changed = time.monotonic()
    await one.stub.SetLimit(pb.SetLimitRequest(job_type="mail", concurrency=3))
    await until(lambda: len(worker.started) == 3, 1.5)
    cleared = time.monotonic()
    await one.stub.ClearLimit(pb.ClearLimitRequest(job_type="mail"))
    await until(lambda: len(worker.started) == 5, 1.5)
    assert cleared - changed < 1.5


async def test_limits_survive_a_restart(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    shared(storage_settings)
    first: Running = await start_server()
    await first.stub.SetLimit(pb.SetLimitRequest(job_type="mail", concurrency=4, rate=2.5, per=10, burst=6))
    await first.server.stop(0)
    again: Running = await start_server()
    kept = (await limits(again))["mail"]
    assert (kept.concurrency, kept.rate, kept.per, kept.burst) == (4, 2.5, 10.0, 6)
