"""The whole job lifecycle over gRPC against a real server on a real port."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory


def consume(server: Running, worker: str, *types: str, max_in_flight: int = 0) -> grpc.aio.UnaryStreamCall:
    request = pb.ConsumeJobsRequest(
        worker_id=worker, job_types=list(types) or ["email"], max_in_flight=max_in_flight
    )
    return server.stub.ConsumeJobs(request)


async def test_enqueue_consume_complete(server: Running) -> None:
    payload = '{ "to" : "a@b.c",\n "n": [1, 2.50] }'
    job_id = await server.enqueue(payload=payload, priority=1, max_retries=3, delay=7)
    stream = consume(server, "w1")

    message = await stream.read()

    assert message.notification_type == "job_ready"
    job = message.job
    assert (job.id, job.status, job.payload, job.priority) == (job_id, "running", payload, 1)
    assert (job.max_retries, job.delay, job.lease_token, job.worker_id) == (3, 7, 1, "w1")
    assert job.lease_expires_at > job.started_at > 0
    done = await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=job.lease_token))
    assert done.success
    stored = await server.job(job_id)
    assert stored.status == "completed" and stored.completed_at > 0
    stream.cancel()


async def test_priority_order_under_a_mixed_backlog(server: Running) -> None:
    priorities = [3, 2, 1, 3, 1, 2, 2, 3, 1, 1, 3, 2] * 3
    ids = [await server.enqueue(priority=p) for p in priorities]
    expected = [i for _, _, i in sorted(zip(priorities, range(len(ids)), ids, strict=True))]
    stream = consume(server, "w1")

    delivered = []
    for _ in ids:
        job = (await stream.read()).job
        delivered.append(job.id)
        await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job.id, lease_token=job.lease_token))

    assert delivered == expected
    stream.cancel()


async def test_a_job_is_pushed_to_a_waiting_worker_the_moment_it_is_enqueued(server: Running) -> None:
    stream = consume(server, "w1", "late")
    read = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.2)
    assert not read.done()

    job_id = await server.enqueue("late")

    message = await asyncio.wait_for(read, 2)
    assert message.job.id == job_id
    stream.cancel()


async def test_retry_timing_with_delay_one_then_dead_letter_and_requeue(server: Running) -> None:
    job_id = await server.enqueue("flaky", delay=1, max_retries=2)
    stream = consume(server, "w1", "flaky")
    delivered_at = []
    failed_at = []  # taken before the call: the server's clock reads the failure after it
    for _ in range(3):
        job = (await asyncio.wait_for(stream.read(), 10)).job
        delivered_at.append(time.monotonic())
        failed_at.append(time.monotonic())
        reply = await server.stub.FailJob(
            pb.FailJobRequest(job_id=job.id, error_message="nope", lease_token=job.lease_token)
        )
        assert reply.will_retry == (len(failed_at) < 3)

    assert delivered_at[1] - failed_at[0] >= 1.0
    assert delivered_at[2] - failed_at[1] >= 2.0
    dead = await server.job(job_id)
    assert (dead.status, dead.retry_count, dead.error_message) == ("failed", 2, "nope")
    letters = await server.stub.ListDeadLetters(pb.ListDeadLettersRequest(job_type="flaky"))
    assert [j.id for j in letters.jobs] == [job_id]

    requeued = await server.stub.RequeueDeadLetter(pb.RequeueDeadLetterRequest(job_id=job_id))
    assert requeued.job.status == "queued" and requeued.job.retry_count == 0
    again = (await asyncio.wait_for(stream.read(), 5)).job
    assert (again.id, again.lease_token) == (job_id, 4)
    stream.cancel()


async def test_fail_with_no_retry_goes_straight_to_the_dead_letters(server: Running) -> None:
    job_id = await server.enqueue(max_retries=5)
    job = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w"))).job
    reply = await server.stub.FailJob(
        pb.FailJobRequest(job_id=job_id, lease_token=job.lease_token, no_retry=True)
    )
    assert (reply.success, reply.will_retry) == (True, False)
    assert (await server.job(job_id)).status == "failed"


async def test_retry_job_and_dequeue_retried_job(server: Running) -> None:
    job_id = await server.enqueue(delay=600)
    await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w"))
    reply = await server.stub.RetryJob(pb.RetryJobRequest(job_id=job_id, error_message="later"))
    assert reply.will_retry and reply.retry_at >= int(time.time()) + 599
    empty = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w"))
    assert not empty.success

    assert (await server.stub.DequeueRetriedJob(pb.DequeueRetriedJobRequest(job=pb.Job(id=job_id)))).success

    again = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w"))
    assert again.job.id == job_id and again.job.retry_count == 1


async def test_scheduled_job_is_delivered_at_its_time(server: Running) -> None:
    job_id = await server.enqueue("timed", scheduled_in=0.5)
    assert (await server.job(job_id)).status == "queued"
    stream = consume(server, "w1", "timed")
    started = time.monotonic()

    message = await asyncio.wait_for(stream.read(), 5)

    assert message.job.id == job_id
    assert time.monotonic() - started >= 0.4
    stream.cancel()


async def test_cancel_a_queued_job(server: Running) -> None:
    job_id = await server.enqueue(scheduled_in=60)
    reply = await server.stub.CancelJob(pb.CancelJobRequest(job_id=job_id))
    assert reply.success and reply.job.status == "cancelled"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.CancelJob(pb.CancelJobRequest(job_id=job_id))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_max_in_flight_limits_what_a_stream_holds(server: Running) -> None:
    for _ in range(5):
        await server.enqueue()
    stream = consume(server, "w1", max_in_flight=2)
    first = (await stream.read()).job
    second = (await stream.read()).job
    third = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.2)
    assert not third.done(), "a third job was pushed while two were unacknowledged"

    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=first.id, lease_token=first.lease_token))

    assert (await asyncio.wait_for(third, 2)).job.id not in (first.id, second.id)
    stream.cancel()


async def test_a_closed_stream_hands_its_job_to_another_worker(server: Running) -> None:
    job_id = await server.enqueue()
    first = consume(server, "quitter")
    held = (await first.read()).job
    assert held.id == job_id
    second = consume(server, "steady")
    pending = asyncio.ensure_future(second.read())
    await asyncio.sleep(0.1)
    assert not pending.done()

    first.cancel()

    job = (await asyncio.wait_for(pending, 3)).job
    assert (job.id, job.worker_id, job.lease_token, job.retry_count) == (job_id, "steady", 2, 0)
    late = await_rpc_error(
        server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=held.lease_token))
    )
    assert (await late) is grpc.StatusCode.FAILED_PRECONDITION
    second.cancel()


async def test_an_expired_lease_gives_the_job_to_a_live_worker(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_LEASE_SECONDS=0.5)
    job_id = await server.enqueue(delay=1)
    stuck = consume(server, "stuck")
    held = (await stuck.read()).job
    beat = await server.stub.Heartbeat(pb.HeartbeatRequest(job_id=job_id, lease_token=held.lease_token))
    assert beat.success and beat.lease_expires_at >= held.lease_expires_at
    live = consume(server, "live")

    job = (await asyncio.wait_for(live.read(), 5)).job

    assert (job.id, job.worker_id, job.retry_count) == (job_id, "live", 1)
    stale = server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=held.lease_token))
    assert (await await_rpc_error(stale)) is grpc.StatusCode.FAILED_PRECONDITION
    stuck.cancel()
    live.cancel()


async def await_rpc_error(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    raise AssertionError("the call succeeded")
