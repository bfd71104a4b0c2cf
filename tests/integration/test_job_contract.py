"""What a job carries beyond its work, over gRPC on every storage configuration:
results, metadata, a run time per attempt, a retry's own wait, cancelling a running
job, and the history of its attempts."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory


async def take(server: Running, job_type: str = "email", worker: str = "w1") -> pb.Job:
    """Lease the next job of ``job_type`` with the unary pull."""
    reply = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name=job_type, worker_id=worker))
    assert reply.success, reply.error_message
    return reply.job


async def refused(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() is code, caught.value.details()
    return str(caught.value.details())


async def test_a_result_and_metadata_go_round_trip(server: Running) -> None:
    metadata = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tenant": "ü"}
    job_id = await server.enqueue(metadata=metadata)
    stream = server.stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="w1", job_types=["email"]))
    delivered = (await stream.read()).job
    assert dict(delivered.metadata) == metadata and not delivered.HasField("result")

    result = '{"sent": true, "id": 12345678901234567890}'
    done = await server.stub.CompleteJob(
        pb.CompleteJobRequest(job_id=job_id, lease_token=delivered.lease_token, result=result)
    )

    assert done.success
    stored = await server.job(job_id)
    assert stored.result == result and dict(stored.metadata) == metadata
    [attempt] = stored.attempts
    assert (attempt.number, attempt.worker_id, attempt.outcome, attempt.error) == (1, "w1", "completed", "")
    assert delivered.started_at <= attempt.started_at <= attempt.ended_at
    stream.cancel()


async def test_a_job_without_extras_carries_none(server: Running) -> None:
    job_id = await server.enqueue()
    job = await take(server)
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=job.lease_token))

    stored = await server.job(job_id)

    assert not stored.HasField("result") and not stored.metadata
    assert (stored.timeout_seconds, stored.attempt_deadline) == (0, 0)


async def test_an_attempt_that_runs_past_its_timeout_fails_and_its_answer_is_refused(
    start_server: ServerFactory,
) -> None:
    server = await start_server(STACKDUCK_RETRY_JITTER="0")
    job_id = await server.enqueue(timeout_seconds=0.5, max_retries=1, delay=60)
    job = await take(server)
    assert job.timeout_seconds == 0.5
    assert job.attempt_deadline == pytest.approx(time.time() + 0.5, abs=0.5)
    assert job.lease_expires_at <= int(job.attempt_deadline) + 1

    beat = await server.stub.Heartbeat(pb.HeartbeatRequest(job_id=job_id, lease_token=job.lease_token))
    assert beat.lease_expires_at <= int(job.attempt_deadline) + 1  # no heartbeat extends it
    await asyncio.sleep(0.7)
    # Refused whether the reaper has moved it yet ("queued") or not ("timed out").
    await refused(
        server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=job.lease_token)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )

    for _ in range(50):  # the reaper fails the attempt at its deadline
        stored = await server.job(job_id)
        if stored.status == "queued":
            break
        await asyncio.sleep(0.1)
    assert (stored.status, stored.retry_count, stored.error_message) == ("queued", 1, "timed out after 0.5 s")
    [attempt] = stored.attempts
    assert (attempt.outcome, attempt.error) == ("timed_out", "timed out after 0.5 s")


async def test_a_server_default_timeout_applies_to_jobs_enqueued_without_one(
    start_server: ServerFactory,
) -> None:
    server = await start_server(STACKDUCK_JOB_TIMEOUT_SECONDS="30")
    default, own = await server.enqueue(), await server.enqueue(timeout_seconds=5)

    assert (await server.job(default)).timeout_seconds == 30
    assert (await server.job(own)).timeout_seconds == 5


async def test_a_failure_may_name_its_own_wait_before_the_retry(server: Running) -> None:
    job_id = await server.enqueue(delay=1)
    job = await take(server)

    before = time.time()
    reply = await server.stub.FailJob(
        pb.FailJobRequest(
            job_id=job_id, lease_token=job.lease_token, error_message="rate limited", retry_in=120
        )
    )

    assert reply.will_retry and before + 119 <= reply.retry_at <= time.time() + 121
    stored = await server.job(job_id)
    assert (stored.status, stored.retry_count) == ("queued", 1)
    [attempt] = stored.attempts
    assert (attempt.outcome, attempt.error) == ("failed", "rate limited")


async def test_cancelling_a_running_job_ends_it_and_refuses_its_answer(server: Running) -> None:
    job_id = await server.enqueue()
    job = await take(server)

    cancelled = await server.stub.CancelJob(pb.CancelJobRequest(job_id=job_id))

    assert cancelled.success and cancelled.job.status == "cancelled"
    await refused(
        server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=job.lease_token)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    stored = await server.job(job_id)
    assert stored.status == "cancelled" and [a.outcome for a in stored.attempts] == ["cancelled"]
    reply = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="email", worker_id="w2"))
    assert not reply.success


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"metadata": {"bad key": "v"}}, grpc.StatusCode.INVALID_ARGUMENT, "metadata key"),
        ({"metadata": {f"k{i}": "v" for i in range(65)}}, grpc.StatusCode.INVALID_ARGUMENT, "65 entries"),
        ({"metadata": {"k": "v" * 17000}}, grpc.StatusCode.INVALID_ARGUMENT, "bytes as JSON"),
        ({"timeout_seconds": -1}, grpc.StatusCode.INVALID_ARGUMENT, "timeout_seconds"),
        ({"timeout_seconds": 86_401}, grpc.StatusCode.INVALID_ARGUMENT, "timeout_seconds"),
    ],
    ids=["metadata-key", "metadata-entries", "metadata-size", "negative-timeout", "long-timeout"],
)
async def test_bad_extras_are_refused_and_store_nothing(
    server: Running, fields: dict[str, object], code: grpc.StatusCode, words: str
) -> None:
    request = pb.EnqueueJobRequest(job_type="email", payload="{}", **fields)  # type: ignore[arg-type]

    message = await refused(server.stub.EnqueueJob(request), code)

    assert words in message
    assert (await server.counts())["queued"] == 0


@pytest.mark.parametrize(
    ("request_fields", "code", "words"),
    [
        ({"result": "{not json"}, grpc.StatusCode.INVALID_ARGUMENT, "result must be a JSON text"),
        ({"result": '"' + "x" * 2000 + '"'}, grpc.StatusCode.RESOURCE_EXHAUSTED, "result is 2002 bytes"),
    ],
    ids=["not-json", "too-large"],
)
async def test_a_bad_result_is_refused_and_the_job_stays_running(
    start_server: ServerFactory, request_fields: dict[str, str], code: grpc.StatusCode, words: str
) -> None:
    server = await start_server(STACKDUCK_MAX_PAYLOAD_BYTES="1024")
    job_id = await server.enqueue()
    job = await take(server)

    message = await refused(
        server.stub.CompleteJob(
            pb.CompleteJobRequest(job_id=job_id, lease_token=job.lease_token, **request_fields)
        ),
        code,
    )

    assert words in message
    assert (await server.job(job_id)).status == "running"


async def test_retry_in_with_no_retry_is_refused(server: Running) -> None:
    job_id = await server.enqueue()
    job = await take(server)

    message = await refused(
        server.stub.FailJob(
            pb.FailJobRequest(job_id=job_id, lease_token=job.lease_token, no_retry=True, retry_in=5)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    assert "no_retry or retry_in" in message
    assert (await server.job(job_id)).status == "running"


async def test_a_timed_out_attempt_fails_at_its_deadline_while_other_leases_run_long(
    server: Running,
) -> None:
    """The reaper is woken for the cut lease, not for the lease time: a job leased
    earlier without a timeout (its lease ends in minutes) does not make it wait."""
    await server.enqueue(job_type="slow")
    await take(server, "slow")
    await asyncio.sleep(0.2)  # the reaper now plans for the slow job's lease
    job_id = await server.enqueue(timeout_seconds=0.5)
    await take(server)

    started = time.monotonic()
    while (await server.job(job_id)).status == "running":
        assert time.monotonic() - started < 3, "the timed-out attempt waited for the reaper's next look"
        await asyncio.sleep(0.05)
