"""Bad input gets a clear status and message, and changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION

ENQUEUE_CASES: list[tuple[str, dict[str, Any], grpc.StatusCode, str]] = [
    ("empty job_type", {"job_type": ""}, INVALID, "job_type"),
    ("long job_type", {"job_type": "x" * 256}, INVALID, "job_type"),
    ("NUL in job_type", {"job_type": "a\x00b"}, INVALID, "job_type"),
    ("payload not JSON", {"payload": "{oops"}, INVALID, "payload"),
    ("empty payload", {"payload": ""}, INVALID, "payload"),
    (
        "payload over the limit",
        {"payload": '"' + "x" * 2048 + '"'},
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "limit",
    ),
    ("payload nested too deeply", {"payload": "[" * 1000}, INVALID, "deeply"),
    ("priority 4", {"priority": 4}, INVALID, "priority"),
    ("priority -1", {"priority": -1}, INVALID, "priority"),
    ("delay 3601", {"delay": 3601}, INVALID, "delay"),
    ("delay -5", {"delay": -5}, INVALID, "delay"),
    ("max_retries -1", {"max_retries": -1}, INVALID, "max_retries"),
    ("max_retries 101", {"max_retries": 101}, INVALID, "max_retries"),
    ("retry_limit -1", {"retry_limit": -1}, INVALID, "retry_limit"),
    ("retry_limit disagrees", {"retry_limit": 1, "max_retries": 3}, INVALID, "disagree"),
    ("scheduled_at garbage", {"scheduled_at": "tomorrow"}, INVALID, "RFC 3339"),
    ("scheduled_at no offset", {"scheduled_at": "2030-01-01T00:00:00"}, INVALID, "offset"),
    ("scheduled_at week date", {"scheduled_at": "2030-W01-1T00:00:00Z"}, INVALID, "RFC 3339"),
    ("scheduled_at basic format", {"scheduled_at": "20300101T000000Z"}, INVALID, "RFC 3339"),
    ("scheduled_at no seconds", {"scheduled_at": "2030-01-01T00:00Z"}, INVALID, "RFC 3339"),
    ("both schedules", {"scheduled_at": "2030-01-01T00:00:00Z", "scheduled_in": 5}, INVALID, "not both"),
    ("scheduled_in negative", {"scheduled_in": -1}, INVALID, "scheduled_in"),
    ("long idempotency_key", {"idempotency_key": "k" * 256}, INVALID, "idempotency_key is 256 characters"),
    ("NUL in idempotency_key", {"idempotency_key": "a\x00b"}, INVALID, "idempotency_key must not contain"),
]


@pytest.fixture(autouse=True)
def _no_traceback_in_the_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A refused request is the client's mistake: the server logs no error and no traceback."""
    yield
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not noisy, [f"{r.name}: {r.getMessage()}" for r in noisy]


@pytest.fixture
async def small(start_server: ServerFactory) -> Running:
    server: Running = await start_server(STACKDUCK_MAX_PAYLOAD_BYTES=1024)
    return server


async def expect_error(call: Any, code: grpc.StatusCode, words: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() is code, err.value.details()
    assert words in (err.value.details() or ""), err.value.details()


@pytest.mark.parametrize(
    ("fields", "code", "words"), [c[1:] for c in ENQUEUE_CASES], ids=[c[0] for c in ENQUEUE_CASES]
)
async def test_bad_enqueue_is_refused_and_stores_nothing(
    small: Running, fields: dict[str, Any], code: grpc.StatusCode, words: str
) -> None:
    before = await small.counts()
    request = pb.EnqueueJobRequest(**{"job_type": "email", "payload": "{}", **fields})

    await expect_error(small.stub.EnqueueJob(request), code, words)

    assert await small.counts() == before


async def test_oversized_message_is_resource_exhausted(small: Running) -> None:
    request = pb.EnqueueJobRequest(job_type="email", payload='"' + "x" * (200 * 1024) + '"')
    await expect_error(small.stub.EnqueueJob(request), grpc.StatusCode.RESOURCE_EXHAUSTED, "")
    assert sum((await small.counts()).values()) == 0


async def test_wrong_state_and_unknown_ids(small: Running) -> None:
    queued = await small.enqueue()
    running = await small.enqueue("other")
    held = (await small.stub.DequeueJob(pb.DequeueJobRequest(queue_name="other", worker_id="owner"))).job
    finished = await small.enqueue("done")
    done = (await small.stub.DequeueJob(pb.DequeueJobRequest(queue_name="done", worker_id="owner"))).job
    await small.stub.CompleteJob(pb.CompleteJobRequest(job_id=finished, lease_token=done.lease_token))
    before = await small.counts()
    stub = small.stub
    cases = [
        (stub.CompleteJob(pb.CompleteJobRequest(job_id="")), INVALID, "job_id"),
        (stub.CompleteJob(pb.CompleteJobRequest(job_id="nope")), NOT_FOUND, "nope"),
        (stub.CompleteJob(pb.CompleteJobRequest(job_id=queued)), PRECONDITION, "queued"),
        (stub.FailJob(pb.FailJobRequest(job_id=queued)), PRECONDITION, "queued"),
        (stub.Heartbeat(pb.HeartbeatRequest(job_id=queued)), PRECONDITION, "queued"),
        (stub.CompleteJob(pb.CompleteJobRequest(job_id=running, worker_id="thief")), PRECONDITION, "owner"),
        (
            stub.FailJob(pb.FailJobRequest(job_id=running, lease_token=held.lease_token + 1)),
            PRECONDITION,
            "stale",
        ),
        (stub.CompleteJob(pb.CompleteJobRequest(job_id=running, lease_token=-3)), INVALID, "lease_token"),
        (stub.GetJob(pb.GetJobRequest(job_id="nope")), NOT_FOUND, "nope"),
        (stub.CancelJob(pb.CancelJobRequest(job_id=finished)), PRECONDITION, "completed"),
        (stub.RequeueDeadLetter(pb.RequeueDeadLetterRequest(job_id=queued)), PRECONDITION, "failed"),
        (
            stub.DequeueRetriedJob(pb.DequeueRetriedJobRequest(job=pb.Job(id=running))),
            PRECONDITION,
            "running",
        ),
        (stub.DequeueJob(pb.DequeueJobRequest(queue_name="")), INVALID, "job_type"),
        (stub.ListDeadLetters(pb.ListDeadLettersRequest(limit=5000)), INVALID, "limit"),
    ]
    for call, code, words in cases:
        await expect_error(call, code, words)

    assert await small.counts() == before
    assert (await small.job(running)).worker_id == "owner"


@pytest.mark.parametrize(
    ("request_fields", "words"),
    [
        ({"worker_id": "", "job_types": ["email"]}, "worker_id"),
        ({"worker_id": "w", "job_types": []}, "job_types"),
        ({"worker_id": "w", "job_types": [""]}, "job_type"),
        ({"worker_id": "w", "job_types": ["email"], "max_in_flight": 5000}, "max_in_flight"),
        ({"worker_id": "w" * 201, "job_types": ["email"]}, "worker_id"),
        ({"worker_id": "w\nINFO forged log line", "job_types": ["email"]}, "worker_id"),
        ({"worker_id": "w\x1b[31m", "job_types": ["email"]}, "worker_id"),
        ({"worker_id": "w", "job_types": [f"t{i}" for i in range(101)]}, "at most 100"),
    ],
    ids=[
        "no worker_id",
        "no types",
        "empty type",
        "max_in_flight",
        "long worker_id",
        "newline",
        "escape",
        "101 types",
    ],
)
async def test_bad_consume_request_is_refused(
    small: Running, request_fields: dict[str, Any], words: str
) -> None:
    await small.enqueue()
    stream = small.stub.ConsumeJobs(pb.ConsumeJobsRequest(**request_fields))
    await expect_error(stream.read(), INVALID, words)
    assert (await small.counts())["queued"] == 1


async def test_hostile_strings_are_stored_and_returned_byte_for_byte(small: Running) -> None:
    job_type = "'; DROP TABLE jobs; --\\\"ü🦆"
    payload = '{"q": "\\"quoted\\" \\\\ back", "sql": "1 OR 1=1; --", "u": "日本語 🦆", "e": "\\u0000"}'
    job_id = await small.enqueue(job_type, payload)

    job = (await small.stub.DequeueJob(pb.DequeueJobRequest(queue_name=job_type, worker_id="w"))).job

    assert (job.id, job.job_type, job.payload) == (job_id, job_type, payload)


async def test_a_payload_with_an_integer_of_10000_digits_is_kept_byte_for_byte(server: Running) -> None:
    payload = '{"big": ' + "7" * 10_000 + ', "neg": [-1' + "0" * 5_000 + "]}"
    job_id = await server.enqueue("big", payload)

    job = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="big", worker_id="w"))).job

    assert (job.id, job.payload) == (job_id, payload)
    assert (await server.job(job_id)).payload == payload


async def test_nul_characters_are_refused_before_they_reach_storage(small: Running) -> None:
    job_id = await small.enqueue("nul")
    held = (await small.stub.DequeueJob(pb.DequeueJobRequest(queue_name="nul", worker_id="w"))).job
    stub = small.stub
    cases = [
        stub.FailJob(
            pb.FailJobRequest(job_id=job_id, lease_token=held.lease_token, error_message="bad\x00byte")
        ),
        stub.ListJobs(pb.ListJobsRequest(job_type="a\x00b")),
        stub.ListDeadLetters(pb.ListDeadLettersRequest(job_type="a\x00b")),
        stub.GetJob(pb.GetJobRequest(job_id="x\x00")),
    ]
    for call in cases:
        await expect_error(call, INVALID, "NUL")
    assert (await small.job(job_id)).status == "running"
    done = await stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=held.lease_token))
    assert done.success


@pytest.mark.parametrize(
    "worker_id",
    ["w" * 201, "w\n", "w\r\nx", "\tw", "w\x00", "w\x7f", "w\u2028"],
    ids=["201 chars", "LF", "CRLF", "tab", "NUL", "DEL", "line separator"],
)
async def test_worker_ids_are_one_short_line(small: Running, worker_id: str) -> None:
    job_id = await small.enqueue("w")
    held = (await small.stub.DequeueJob(pb.DequeueJobRequest(queue_name="w", worker_id="owner"))).job
    await small.enqueue("w")
    before = await small.counts()
    stub, token = small.stub, held.lease_token
    calls = [
        stub.DequeueJob(pb.DequeueJobRequest(queue_name="w", worker_id=worker_id)),
        stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=token, worker_id=worker_id)),
        stub.FailJob(pb.FailJobRequest(job_id=job_id, lease_token=token, worker_id=worker_id)),
        stub.RetryJob(pb.RetryJobRequest(job_id=job_id, lease_token=token, worker_id=worker_id)),
        stub.Heartbeat(pb.HeartbeatRequest(job_id=job_id, lease_token=token, worker_id=worker_id)),
        stub.AckJobs(
            pb.AckJobsRequest(
                completed=[pb.CompleteJobRequest(job_id=job_id, lease_token=token, worker_id=worker_id)]
            )
        ),
    ]
    for call in calls:
        await expect_error(call, INVALID, "worker_id")
    assert await small.counts() == before
    assert (await small.job(job_id)).worker_id == "owner"
    # The longest allowed name still works.
    done = await stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=token, worker_id="owner"))
    assert done.success
    reply = await stub.DequeueJob(pb.DequeueJobRequest(queue_name="w", worker_id="w" * 200))
    assert reply.job.worker_id == "w" * 200


def _raw(data: bytes) -> bytes:
    return data


BAD_UTF8 = b"\x0a\x02\xff\xfe"  # field 1, a string of two bytes that are not UTF-8
UNDECODABLE = {
    "string not UTF-8": BAD_UTF8,
    "string in a nested message not UTF-8": b"\x0a\x04" + BAD_UTF8,
    "truncated": b"\x0a\x05ab",
    "corrupt tag": b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
}
UNARY_METHODS = [
    "/stackduck.StackDuckService/EnqueueJob",
    "/stackduck.StackDuckService/EnqueueJobs",
    "/stackduck.StackDuckService/GetJob",
    "/stackduck.StackDuckService/CompleteJob",
    "/stackduck.StackDuckService/DequeueJob",
    "/stackduck.StackDuckService/ListJobs",
    "/stackduck.StackDuckService/AckJobs",
    "/grpc.health.v1.Health/Check",
]


@pytest.mark.parametrize("data", UNDECODABLE.values(), ids=UNDECODABLE.keys())
async def test_a_request_that_cannot_be_decoded_is_invalid_argument(small: Running, data: bytes) -> None:
    await small.enqueue()
    before = await small.counts()
    for method in UNARY_METHODS:
        call = small.channel.unary_unary(method, request_serializer=_raw, response_deserializer=_raw)
        if data == UNDECODABLE["string in a nested message not UTF-8"] and method.endswith("Check"):
            continue  # field 1 of a health check is a string, not a message
        await expect_error(call(data), INVALID, "request could not be decoded: ")
    for method in ("/stackduck.StackDuckService/ConsumeJobs", "/grpc.health.v1.Health/Watch"):
        stream = small.channel.unary_stream(method, request_serializer=_raw, response_deserializer=_raw)
        await expect_error(stream(data).read(), INVALID, "request could not be decoded: ")
    assert await small.counts() == before


async def test_the_decoder_names_what_it_could_not_read(small: Running) -> None:
    call = small.channel.unary_unary(
        "/stackduck.StackDuckService/GetJob", request_serializer=_raw, response_deserializer=_raw
    )
    job_id = await small.enqueue()
    await expect_error(call(BAD_UTF8), INVALID, "stackduck.GetJobRequest")
    # A well-formed request through the same path is served as ever.
    reply = await call(pb.GetJobRequest(job_id=job_id).SerializeToString())
    assert pb.Job.FromString(reply).id == job_id


#: A status message travels in a trailer; gRPC clients refuse trailers over 8 KiB.
SHORT_MESSAGE = 400


async def test_long_ids_are_refused_and_messages_quote_a_short_prefix(small: Running) -> None:
    queued = await small.enqueue()
    running = await small.enqueue("held")
    held = (await small.stub.DequeueJob(pb.DequeueJobRequest(queue_name="held", worker_id="o" * 200))).job
    before = await small.counts()
    stub, huge = small.stub, "x" * 20_000
    cases = [
        (stub.GetJob(pb.GetJobRequest(job_id=huge)), INVALID, "job_id is 20000 characters long"),
        (stub.CompleteJob(pb.CompleteJobRequest(job_id=huge)), INVALID, "job_id"),
        (stub.FailJob(pb.FailJobRequest(job_id=huge)), INVALID, "job_id"),
        (stub.RetryJob(pb.RetryJobRequest(job_id=huge)), INVALID, "job_id"),
        (stub.Heartbeat(pb.HeartbeatRequest(job_id=huge)), INVALID, "job_id"),
        (stub.CancelJob(pb.CancelJobRequest(job_id=huge)), INVALID, "job_id"),
        (stub.RequeueDeadLetter(pb.RequeueDeadLetterRequest(job_id=huge)), INVALID, "job_id"),
        (stub.DequeueRetriedJob(pb.DequeueRetriedJobRequest(job=pb.Job(id=huge))), INVALID, "job_id"),
        (stub.AckJobs(pb.AckJobsRequest(completed=[pb.CompleteJobRequest(job_id=huge)])), INVALID, "job_id"),
        (stub.RequeueDeadLetters(pb.DeadLetterSelection(job_ids=[huge])), INVALID, "job_ids"),
        (stub.PurgeDeadLetters(pb.DeadLetterSelection(job_ids=[queued, huge])), INVALID, "job_ids"),
        (stub.ListJobs(pb.ListJobsRequest(page_token=huge)), INVALID, "page_token"),
        (stub.ListDeadLetters(pb.ListDeadLettersRequest(page_token=huge)), INVALID, "page_token"),
        (stub.ListJobs(pb.ListJobsRequest(status=huge)), INVALID, "status"),
        (stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}", scheduled_at=huge)), INVALID, "at"),
        # The longest id allowed, unknown: NOT_FOUND, quoting its start only.
        (stub.GetJob(pb.GetJobRequest(job_id="y" * 64)), NOT_FOUND, "(64 characters)"),
        # Lease mismatches quote both worker ids short.
        (
            stub.CompleteJob(pb.CompleteJobRequest(job_id=running, worker_id="t" * 200)),
            PRECONDITION,
            "(200 characters)",
        ),
    ]
    for call, code, words in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        details = err.value.details() or ""
        assert err.value.code() is code, details
        assert words in details and len(details) < SHORT_MESSAGE, details
    assert await small.counts() == before
    assert (await small.job(running)).lease_token == held.lease_token
