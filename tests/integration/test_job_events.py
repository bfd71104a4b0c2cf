"""Telling workers to stop jobs, and watching jobs, over gRPC on every storage
configuration; across two instances where storage is shared.

- A stream that asked (``stop_messages``) gets a JobStop for a held job that is
  cancelled or times out, and its slot is free again; a stream that did not ask gets
  nothing, and its slot is free all the same.
- WatchJob sends the job as it is, then each change, until it ends.

The bounds below (``PROMPT``) are shorter than the safety nets (a full stream's 5 s
re-check, a watcher's 5 s re-read), so these tests fail if only the nets work."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.container import provide
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.conftest import one_process
from tests.integration.conftest import Running, ServerFactory

#: What "at once" means here: well under the 5 s safety nets.
PROMPT = 3.0


def stream(server: Running, worker: str = "w1", stop_messages: bool = True, **fields: Any) -> Any:
    request = pb.ConsumeJobsRequest(
        worker_id=worker, job_types=["email"], stop_messages=stop_messages, **fields
    )
    return server.stub.ConsumeJobs(request)


async def next_message(call: Any, within: float = PROMPT) -> Any:
    message = await asyncio.wait_for(call.read(), within)
    assert message is not grpc.aio.EOF, "the stream ended"
    return message


async def two_instances(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> tuple[Running, Running]:
    """Two instances on the storage once they have heard each other (skipped where one
    process owns the storage)."""
    if one_process(storage_settings):
        pytest.skip("one process owns this storage: there is no second instance to share it")
    servers = await start_server(), await start_server()
    await shared(*servers)
    return servers


async def shared(*servers: Running) -> None:
    """Wait until the instances have heard each other."""
    notifiers = [await provide(server.container.notifier) for server in servers]
    deadline = time.monotonic() + 10
    while not all(isinstance(n, BroadcastNotifier) and n.peers_heard() for n in notifiers):
        assert time.monotonic() < deadline, "the instances never heard each other"
        await asyncio.sleep(0.02)


async def refused(call: Any, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() is code, caught.value.details()
    return str(caught.value.details())


# -- stops --------------------------------------------------------------------------------


async def test_a_stream_that_asked_is_told_to_stop_a_cancelled_job_and_its_slot_frees(
    server: Running,
) -> None:
    first = await server.enqueue()
    call = stream(server)
    delivered = (await next_message(call)).job
    assert delivered.id == first
    second = await server.enqueue()  # the stream is full: this one waits

    await server.stub.CancelJob(pb.CancelJobRequest(job_id=first))

    told = await next_message(call)
    assert told.notification_type == "job_stop"
    assert not told.HasField("job") and not told.jobs
    assert (told.stop.job_id, told.stop.lease_token) == (first, delivered.lease_token)
    assert (told.stop.reason, told.stop.message) == ("cancelled", "cancelled while running")
    following = await next_message(call)
    assert (following.notification_type, following.job.id) == ("job_ready", second)
    call.cancel()


async def test_a_stream_that_did_not_ask_gets_no_stop_but_its_slot_frees(server: Running) -> None:
    first = await server.enqueue()
    call = stream(server, stop_messages=False)
    assert (await next_message(call)).job.id == first
    second = await server.enqueue()

    await server.stub.CancelJob(pb.CancelJobRequest(job_id=first))

    following = await next_message(call)
    assert (following.notification_type, following.job.id) == ("job_ready", second)
    call.cancel()


async def test_a_batch_stream_that_asked_is_told_too(server: Running) -> None:
    ids = [await server.enqueue() for _ in range(2)]
    call = stream(server, batch=True, max_in_flight=2)
    delivered = (await next_message(call)).jobs
    assert [job.id for job in delivered] == ids

    await server.stub.CancelJob(pb.CancelJobRequest(job_id=ids[1]))

    told = await next_message(call)
    assert (told.notification_type, told.stop.job_id, told.stop.reason) == ("job_stop", ids[1], "cancelled")
    third = await server.enqueue()
    assert [job.id for job in (await next_message(call)).jobs] == [third]
    call.cancel()


async def test_a_job_that_runs_past_its_timeout_is_stopped_with_the_reason(server: Running) -> None:
    timed = await server.enqueue(timeout_seconds=0.5)
    call = stream(server)
    delivered = (await next_message(call)).job
    assert delivered.id == timed
    other = await server.enqueue()

    told = await next_message(call)

    assert (told.notification_type, told.stop.job_id, told.stop.lease_token) == (
        "job_stop",
        timed,
        delivered.lease_token,
    )
    assert (told.stop.reason, told.stop.message) == ("timed_out", "timed out after 0.5 s")
    assert (await next_message(call)).job.id == other
    stored = await server.job(timed)
    assert stored.status == "queued" and [a.outcome for a in stored.attempts] == ["timed_out"]
    call.cancel()


async def test_a_job_answered_before_its_cancel_is_not_stopped(server: Running) -> None:
    """The stream no longer holds it: nothing is sent (the cancel is refused anyway)."""
    first = await server.enqueue()
    call = stream(server)
    delivered = (await next_message(call)).job
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=first, lease_token=delivered.lease_token))

    await refused(
        server.stub.CancelJob(pb.CancelJobRequest(job_id=first)), grpc.StatusCode.FAILED_PRECONDITION
    )

    second = await server.enqueue()
    following = await next_message(call)
    assert (following.notification_type, following.job.id) == ("job_ready", second)
    call.cancel()


async def test_a_cancel_on_one_instance_stops_the_job_on_a_stream_of_another(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    a, b = await two_instances(start_server, storage_settings)
    call = stream(b)
    first = await a.enqueue()
    delivered = (await next_message(call)).job
    assert delivered.id == first
    second = await a.enqueue()

    await a.stub.CancelJob(pb.CancelJobRequest(job_id=first))

    told = await next_message(call)
    assert (told.stop.job_id, told.stop.lease_token, told.stop.reason) == (
        first,
        delivered.lease_token,
        "cancelled",
    )
    assert (await next_message(call)).job.id == second
    call.cancel()


async def test_a_cancel_on_one_instance_frees_the_slot_of_a_stream_on_another_that_did_not_ask(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    a, b = await two_instances(start_server, storage_settings)
    call = stream(b, stop_messages=False)
    first = await a.enqueue()
    assert (await next_message(call)).job.id == first
    second = await a.enqueue()

    await a.stub.CancelJob(pb.CancelJobRequest(job_id=first))

    following = await next_message(call)
    assert (following.notification_type, following.job.id) == ("job_ready", second)
    call.cancel()


# -- WatchJob -----------------------------------------------------------------------------


async def test_a_watch_follows_a_job_from_queued_to_completed_and_ends(server: Running) -> None:
    job_id = await server.enqueue()
    watch = server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id))
    assert (await next_message(watch)).job.status == "queued"

    reply = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w1"))
    running = (await next_message(watch)).job
    assert (running.status, running.worker_id, running.lease_token) == ("running", "w1", 1)
    await server.stub.CompleteJob(
        pb.CompleteJobRequest(job_id=job_id, lease_token=reply.job.lease_token, result='{"sent": 3}')
    )
    done = (await next_message(watch)).job

    assert (done.status, done.result, [a.outcome for a in done.attempts]) == (
        "completed",
        '{"sent": 3}',
        ["completed"],
    )
    assert await asyncio.wait_for(watch.read(), PROMPT) is grpc.aio.EOF
    assert await watch.code() is grpc.StatusCode.OK


async def test_a_watch_sees_a_failure_retried_and_a_cancel_end_it(server: Running) -> None:
    job_id = await server.enqueue(delay=60)
    watch = server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id))
    await next_message(watch)
    reply = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w1"))
    assert (await next_message(watch)).job.status == "running"

    await server.stub.FailJob(
        pb.FailJobRequest(job_id=job_id, lease_token=reply.job.lease_token, error_message="smtp down")
    )
    retried = (await next_message(watch)).job
    assert (retried.status, retried.retry_count, retried.error_message) == ("queued", 1, "smtp down")
    await server.stub.CancelJob(pb.CancelJobRequest(job_id=job_id))

    assert (await next_message(watch)).job.status == "cancelled"
    assert await asyncio.wait_for(watch.read(), PROMPT) is grpc.aio.EOF


async def test_watching_a_finished_job_sends_it_once_and_ends(server: Running) -> None:
    job_id = await server.enqueue()
    await server.stub.CancelJob(pb.CancelJobRequest(job_id=job_id))

    messages = [event async for event in server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id))]

    assert [event.job.status for event in messages] == ["cancelled"]


async def test_a_watch_on_one_instance_sees_changes_made_on_another(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    a, b = await two_instances(start_server, storage_settings)
    job_id = await a.enqueue()
    watch = b.stub.WatchJob(pb.WatchJobRequest(job_id=job_id))
    assert (await next_message(watch)).job.status == "queued"

    reply = await a.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w1"))
    assert (await next_message(watch)).job.status == "running"
    await a.stub.CompleteJob(
        pb.CompleteJobRequest(job_id=job_id, lease_token=reply.job.lease_token, result="[1]")
    )

    done = (await next_message(watch)).job
    assert (done.status, done.result) == ("completed", "[1]")
    assert await asyncio.wait_for(watch.read(), PROMPT) is grpc.aio.EOF


@pytest.mark.parametrize(
    ("job_id", "code", "words"),
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT, "job_id must not be empty"),
        ("x" * 65, grpc.StatusCode.INVALID_ARGUMENT, "job_id is 65 characters long"),
        ("a\x00b", grpc.StatusCode.INVALID_ARGUMENT, "job_id"),
        ("0192f0c4-0000-7000-8000-000000000000", grpc.StatusCode.NOT_FOUND, "no job with id"),
    ],
    ids=["empty", "too-long", "nul", "unknown"],
)
async def test_a_watch_of_a_bad_or_unknown_id_is_refused(
    server: Running, job_id: str, code: grpc.StatusCode, words: str
) -> None:
    watch = server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await watch.read()

    assert caught.value.code() is code and words in str(caught.value.details())


async def test_watch_streams_past_the_server_limit_are_refused(start_server: ServerFactory) -> None:
    server = await start_server(STACKDUCK_MAX_WATCH_STREAMS="2")
    job_id = await server.enqueue()
    watches = [server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id)) for _ in range(2)]
    for watch in watches:
        await next_message(watch)

    extra = server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await extra.read()
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "STACKDUCK_MAX_WATCH_STREAMS" in str(caught.value.details())

    watches[0].cancel()
    for _ in range(50):  # the closed stream's place is free once the server sees it go
        again = server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id))
        try:
            assert (await next_message(again)).job.id == job_id
            break
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("a closed watch stream never freed its place")


async def test_stopping_the_server_ends_watch_streams_at_once(server: Running) -> None:
    job_id = await server.enqueue()
    watch = server.stub.WatchJob(pb.WatchJobRequest(job_id=job_id))
    await next_message(watch)
    started = time.monotonic()

    stopping = asyncio.ensure_future(server.server.stop(30))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(watch.read(), PROMPT)

    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in str(caught.value.details())
    await asyncio.wait_for(stopping, PROMPT)  # nothing else held it: the grace was not waited out
    assert time.monotonic() - started < PROMPT
