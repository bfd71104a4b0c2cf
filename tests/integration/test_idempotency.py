"""Idempotency keys over gRPC, on every storage configuration: an enqueue that repeats a
key names the first job and creates nothing, however many race and on however many
server instances, for as long as the job is kept or its window runs."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from stackduck.application.retention import Retention
from stackduck.container import provide
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.conftest import one_process
from tests.integration.conftest import Running, ServerFactory


async def enqueue(
    server: Running, key: str, job_type: str = "email", payload: str = "{}"
) -> tuple[str, bool]:
    reply = await server.stub.EnqueueJob(
        pb.EnqueueJobRequest(job_type=job_type, payload=payload, idempotency_key=key)
    )
    assert reply.success
    return reply.job_id, reply.duplicate


async def total(server: Running) -> int:
    return sum((await server.counts()).values())


async def test_the_same_key_twice_names_the_first_job(server: Running) -> None:
    first, first_duplicate = await enqueue(server, "order-1", payload='{"n": 1}')
    again, duplicate = await enqueue(server, "order-1", payload='{"n": 2}')

    assert (again, duplicate, first_duplicate) == (first, True, False)
    assert await total(server) == 1
    job = await server.job(first)
    assert (job.idempotency_key, job.payload) == ("order-1", '{"n": 1}')
    unkeyed = await server.job(await server.enqueue())
    assert unkeyed.idempotency_key == ""


async def test_another_job_type_with_the_same_key_is_another_job(server: Running) -> None:
    email, _ = await enqueue(server, "k", "email")
    sms, duplicate = await enqueue(server, "k", "sms")

    assert sms != email and not duplicate
    assert await total(server) == 2


async def test_a_batch_with_repeated_keys_makes_one_job_per_key(server: Running) -> None:
    [earlier] = (
        await server.stub.EnqueueJobs(
            pb.EnqueueJobsRequest(
                jobs=[pb.EnqueueJobRequest(job_type="t", payload="{}", idempotency_key="b")]
            )
        )
    ).job_ids
    keys = ["a", "", "a", "b", "c", "", "c"]
    requests = [
        pb.EnqueueJobRequest(job_type="t", payload=f'{{"n": {n}}}', idempotency_key=k)
        for n, k in enumerate(keys)
    ]

    reply = await server.stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=requests))

    ids = list(reply.job_ids)
    assert list(reply.duplicate) == [False, False, True, True, False, False, True]
    assert ids[2] == ids[0] and ids[3] == earlier and ids[6] == ids[4]
    assert len(set(ids)) == 5  # a, the two without a key, b (earlier), c
    assert await total(server) == 5
    assert (await server.job(ids[0])).payload == '{"n": 0}'
    unkeyed = await server.stub.EnqueueJobs(
        pb.EnqueueJobsRequest(jobs=[pb.EnqueueJobRequest(job_type="t", payload="{}")])
    )
    assert list(unkeyed.duplicate) == []  # no key in the batch: no flags


async def test_twenty_concurrent_duplicates_make_one_job(server: Running) -> None:
    replies = await asyncio.gather(*(enqueue(server, "race", payload=f'{{"n": {n}}}') for n in range(20)))

    assert len({job_id for job_id, _ in replies}) == 1
    assert sorted(duplicate for _, duplicate in replies) == [False] + [True] * 19
    assert await total(server) == 1


async def test_two_servers_racing_on_one_key_make_one_job(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    if one_process(storage_settings):
        pytest.skip("one process owns this storage: there is no second instance to share it")
    one, two = await start_server(), await start_server()

    for round_ in range(5):
        key = f"race-{round_}"
        replies = await asyncio.gather(*(enqueue((one, two)[n % 2], key) for n in range(20)))
        assert len({job_id for job_id, _ in replies}) == 1, key
        assert sorted(duplicate for _, duplicate in replies) == [False] + [True] * 19

    assert await total(one) == 5


async def test_a_pruned_jobs_key_still_blocks_within_its_window_and_is_free_after(
    start_server: ServerFactory,
) -> None:
    window = 3.0
    server = await start_server(
        STACKDUCK_COMPLETED_RETENTION_SECONDS="0.2", STACKDUCK_IDEMPOTENCY_SECONDS=str(window)
    )
    retention: Retention = await provide(server.container.retention)
    first, _ = await enqueue(server, "once")
    enqueued_at = asyncio.get_running_loop().time()
    job = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w"))).job
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=first, lease_token=job.lease_token))
    await asyncio.sleep(0.3)

    await retention.prune_due()

    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await server.job(first)
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND
    assert await enqueue(server, "once") == (first, True)  # pruned, but within the window
    assert await total(server) == 0

    await asyncio.sleep(window + 0.2 - (asyncio.get_running_loop().time() - enqueued_at))
    await retention.prune_due()

    fresh, duplicate = await enqueue(server, "once")
    assert fresh != first and not duplicate
    assert await enqueue(server, "once") == (fresh, True)
    assert await total(server) == 1


async def test_a_key_over_255_characters_is_refused_and_nothing_stored(server: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await enqueue(server, "k" * 256)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "idempotency_key is 256 characters long; at most 255" in str(refused.value.details())

    batch = [
        pb.EnqueueJobRequest(job_type="t", payload="{}", idempotency_key="fine"),
        pb.EnqueueJobRequest(job_type="t", payload="{}", idempotency_key="é" * 256),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as in_batch:
        await server.stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=batch))
    assert in_batch.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "job 1 of the batch: idempotency_key" in str(in_batch.value.details())
    assert await total(server) == 0

    longest, duplicate = await enqueue(server, "k" * 255)
    assert not duplicate and (await server.job(longest)).idempotency_key == "k" * 255
    fine, _ = await enqueue(server, "fine", "t")  # the refused batch left the key free
    assert await enqueue(server, "fine", "t") == (fine, True)


async def test_a_duplicate_enqueued_while_a_stream_waits_is_not_delivered(server: Running) -> None:
    """A job enqueued while a stream waits is leased to it before the insert (ADR 0013);
    a duplicate was never stored, so it must not be sent, nor keep the stream's slot."""
    consumers = await provide(server.container.consumers)
    stream = server.stub.ConsumeJobs(
        pb.ConsumeJobsRequest(worker_id="w", job_types=["email"], max_in_flight=2)
    )

    async def parked() -> None:
        """Until the stream waits with room, not yet woken: a new job would go straight to it."""
        for _ in range(500):
            if any(c.parked is not None and not c.parked.woken and c.free_slots for c in consumers.parked):
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the stream never parked")

    await parked()
    first, _ = await enqueue(server, "k")
    assert (await asyncio.wait_for(stream.read(), 5)).job.id == first
    await parked()

    again, duplicate = await enqueue(server, "k")
    other = await server.enqueue()  # the slot the duplicate was promised is free again

    assert (again, duplicate) == (first, True)
    assert (await asyncio.wait_for(stream.read(), 5)).job.id == other
    assert (await server.counts())["running"] == 2
    stream.cancel()
