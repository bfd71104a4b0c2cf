"""Fair groups over gRPC on every storage configuration: a deep group does not delay
another group's job, group_concurrency holds across instances, the job carries its
group, bad groups are refused."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.conftest import one_process
from tests.integration.conftest import Running, ServerFactory
from tests.integration.test_limits import Worker, until, workers  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

T = "tenant-work"


async def enqueue_group(server: Running, group: str, count: int) -> list[str]:
    reply = await server.stub.EnqueueJobs(
        pb.EnqueueJobsRequest(
            jobs=[
                pb.EnqueueJobRequest(job_type=T, payload=f'{{"n": {i}}}', group=group) for i in range(count)
            ]
        )
    )
    return list(reply.job_ids)


async def test_a_deep_group_does_not_delay_another_groups_job(
    server: Running,
    workers: list[Worker],  # noqa: F811
) -> None:
    await enqueue_group(server, "big", 300)
    [small] = await enqueue_group(server, "small", 1)
    worker = Worker(server, T, "w", max_in_flight=1)
    workers.append(worker)
    for _ in range(3):
        await until(lambda: len(worker.held) == 1)
        await worker.complete_one()
    delivered = [job.id for _, job in worker.started]
    assert small in delivered[:2], delivered.index(small) if small in delivered else delivered


async def test_the_job_carries_its_group(server: Running) -> None:
    job_id = await server.enqueue(T, "{}", group="tenant-42")
    assert (await server.job(job_id)).group == "tenant-42"
    plain = await server.enqueue(T, "{}")
    assert (await server.job(plain)).group == ""


@pytest.mark.parametrize(
    ("group", "words"), [("x" * 256, "group is 256 characters long"), ("a\x00b", "group must not contain")]
)
async def test_a_bad_group_is_refused(server: Running, group: str, words: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await server.enqueue(T, "{}", group=group)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert words in (refused.value.details() or "")
    assert (await server.counts()).get("queued", 0) == 0  # nothing stored


async def test_a_schedules_ticks_go_into_its_group_and_take_turns(
    server: Running,
    workers: list[Worker],  # noqa: F811
) -> None:
    """A schedule's jobs join its group: behind another group's deep backlog, its tick
    goes out within the next turns, not after the backlog."""
    request = pb.PutScheduleRequest(
        name="per-tenant", job=pb.EnqueueJobRequest(job_type=T, payload="{}", group="acme"), every_seconds=1
    )
    reply = await server.stub.PutSchedule(request)
    assert reply.schedule.group == "acme"
    [listed] = (await server.stub.ListSchedules(pb.ListSchedulesRequest())).schedules
    assert listed.group == "acme"
    await enqueue_group(server, "big", 300)
    worker = Worker(server, T, "w", max_in_flight=1)
    workers.append(worker)

    def ticked() -> bool:
        return any(job.group == "acme" for _, job in worker.started)

    deadline = time.monotonic() + 5
    while not ticked() and time.monotonic() < deadline:
        await until(lambda: len(worker.held) == 1)
        await worker.complete_one()
    assert ticked(), [job.group for _, job in worker.started]
    assert len(worker.started) < 100  # within the turns, far ahead of the 300 queued before it


async def test_group_concurrency_holds_across_instances(
    start_server: ServerFactory,
    storage_settings: dict[str, str],
    workers: list[Worker],  # noqa: F811
) -> None:
    one: Running = await start_server()
    two: Running = await start_server() if not one_process(storage_settings) else one
    await one.stub.SetLimit(pb.SetLimitRequest(job_type=T, group_concurrency=2))
    await asyncio.sleep(1.1)  # the other instance's view is at most a second old
    for group in ("a", "b", "c"):
        await enqueue_group(one, group, 6)
    for n in range(4):
        workers.append(Worker(one if n % 2 else two, T, f"w{n}", max_in_flight=10))

    await until(lambda: sum(len(w.held) for w in workers) == 6)
    await asyncio.sleep(0.3)
    held = [job for w in workers for job in w.held]
    assert sorted(job.group for job in held) == ["a", "a", "b", "b", "c", "c"]

    worker = next(w for w in workers if any(job.group == "a" for job in w.held))
    index = next(i for i, job in enumerate(worker.held) if job.group == "a")
    worker.held.insert(0, worker.held.pop(index))
    ended = time.monotonic()
    await worker.complete_one()
    await until(lambda: sum(len(w.held) for w in workers) == 6, 2.0)
    assert time.monotonic() - ended < 2.0
    held = [job for w in workers for job in w.held]
    assert sorted(job.group for job in held) == ["a", "a", "b", "b", "c", "c"]
