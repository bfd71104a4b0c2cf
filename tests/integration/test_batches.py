"""The batch paths: many jobs per enqueue, per delivered message, per acknowledgement."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running


def requests(count: int, job_type: str = "bulk") -> list[pb.EnqueueJobRequest]:
    return [pb.EnqueueJobRequest(job_type=job_type, payload=f'{{"n": {n}}}') for n in range(count)]


async def test_enqueue_many_is_all_or_nothing(server: Running) -> None:
    reply = await server.stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=requests(50)))
    assert len(reply.job_ids) == len(set(reply.job_ids)) == 50
    assert [(await server.job(i)).payload for i in reply.job_ids[:3]] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']

    bad = [*requests(3), pb.EnqueueJobRequest(job_type="bulk", payload="{nope"), *requests(2)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=bad))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "job 3 of the batch" in (err.value.details() or "")
    assert sum((await server.counts()).values()) == 50

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.EnqueueJobs(pb.EnqueueJobsRequest())
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_batched_delivery_and_acknowledgement(server: Running) -> None:
    ids = list((await server.stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=requests(30)))).job_ids)
    stream = server.stub.ConsumeJobs(
        pb.ConsumeJobsRequest(worker_id="w", job_types=["bulk"], max_in_flight=10, batch=True)
    )
    delivered: list[pb.Job] = []
    while len(delivered) < 30:
        message = await asyncio.wait_for(stream.read(), 5)
        assert not message.HasField("job") and 1 <= len(message.jobs) <= 10
        delivered.extend(message.jobs)
        done, failed = message.jobs[:-1], message.jobs[-1:]
        reply = await server.stub.AckJobs(
            pb.AckJobsRequest(
                completed=[pb.CompleteJobRequest(job_id=j.id, lease_token=j.lease_token) for j in done],
                failed=[
                    pb.FailJobRequest(job_id=j.id, lease_token=j.lease_token, no_retry=True) for j in failed
                ],
            )
        )
        assert all(r.success for r in [*reply.completed, *reply.failed])
    stream.cancel()

    assert sorted(j.id for j in delivered) == sorted(ids)
    counts = await server.counts()
    assert counts["completed"] + counts["failed"] == 30 and counts["failed"] >= 3

    again = await server.stub.AckJobs(pb.AckJobsRequest(completed=[pb.CompleteJobRequest(job_id=ids[0])]))
    [result] = again.completed
    assert (result.success, result.error_code) == (False, "FAILED_PRECONDITION")


async def test_big_jobs_are_split_across_messages_and_pages(start_server: Any) -> None:
    server: Running = await start_server(STACKDUCK_MAX_PAYLOAD_BYTES=300_000)
    big = '"' + "x" * 250_000 + '"'
    ids = [await server.enqueue("big", big) for _ in range(4)]

    listed, token = [], ""
    while True:
        page = await server.stub.ListJobs(pb.ListJobsRequest(job_type="big", page_token=token))
        assert len(page.jobs) <= 2
        listed.extend(j.id for j in page.jobs)
        token = page.next_page_token
        if not token:
            break
    assert listed == ids

    stream = server.stub.ConsumeJobs(
        pb.ConsumeJobsRequest(worker_id="w", job_types=["big"], max_in_flight=4, batch=True)
    )
    delivered: list[str] = []
    while len(delivered) < 4:
        message = await asyncio.wait_for(stream.read(), 5)
        assert 1 <= len(message.jobs) <= 2
        delivered.extend(j.id for j in message.jobs)
    assert sorted(delivered) == sorted(ids)
    stream.cancel()
