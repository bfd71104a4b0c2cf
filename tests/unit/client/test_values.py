"""What the client sends and reads: payloads, options, wire times and states."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from stackduck.client.errors import JobCancelled, JobFailed
from stackduck.client.jobs import JobEvent, JobInfo, JobStatus, JobStop, NewJob, encode_payload, encode_result
from stackduck.domain.errors import InvalidJob
from stackduck.domain.job import JobStatus as DomainStatus
from stackduck.domain.rules import parse_rfc3339
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb


def test_payloads_a_str_as_is_anything_else_as_json() -> None:
    assert encode_payload('{ "a" :1 }') == '{ "a" :1 }'
    assert encode_payload({"to": "a@b.c", "n": [1, 2.5]}) == '{"to": "a@b.c", "n": [1, 2.5]}'
    assert encode_payload([1, None, True]) == "[1, null, true]"
    assert encode_payload(None) == "null"


@pytest.mark.parametrize("payload", [{"x": float("nan")}, [float("-inf")], {"x": object()}, {1j: 1}])
def test_a_payload_json_cannot_carry_is_invalid_job(payload: object) -> None:
    with pytest.raises(InvalidJob, match="JSON"):
        encode_payload(payload)  # type: ignore[arg-type]


def test_unset_options_are_the_wires_zeros_and_retry_limit_has_presence() -> None:
    plain = NewJob("t").to_pb()
    exact = NewJob("t", retry_limit=0).to_pb()

    assert (plain.payload, plain.priority, plain.delay, plain.max_retries) == ("{}", 0, 0, 0)
    assert (plain.scheduled_at, plain.scheduled_in, plain.HasField("retry_limit")) == ("", 0.0, False)
    assert exact.HasField("retry_limit") and exact.retry_limit == 0


def test_schedules_an_aware_datetime_or_text_or_seconds() -> None:
    at = datetime(2030, 1, 31, 12, 0, tzinfo=timezone(timedelta(hours=2)))

    assert NewJob("t", scheduled_at=at).to_pb().scheduled_at == "2030-01-31T10:00:00Z"
    assert NewJob("t", scheduled_at="2030-01-31T10:00:00Z").to_pb().scheduled_at == "2030-01-31T10:00:00Z"
    assert NewJob("t", scheduled_in=timedelta(minutes=2)).to_pb().scheduled_in == 120.0
    assert NewJob("t", scheduled_in=1.5).to_pb().scheduled_in == 1.5


def test_a_zone_whose_offset_has_seconds_is_sent_in_a_form_the_server_takes() -> None:
    at = datetime(1900, 1, 1, 12, 0, tzinfo=timezone(timedelta(minutes=19, seconds=32)))  # Amsterdam then

    sent = NewJob("t", scheduled_at=at).to_pb().scheduled_at

    assert parse_rfc3339(sent) == at.timestamp()


@pytest.mark.parametrize(
    "job",
    [
        NewJob("t", scheduled_at=datetime(2030, 1, 1)),  # naive: which zone?
        NewJob("t", scheduled_in=float("inf")),
        NewJob("t", priority=2**31),
        NewJob("t", delay="soon"),  # type: ignore[arg-type]
    ],
)
def test_values_the_wire_cannot_carry_are_invalid_job_before_sending(job: NewJob) -> None:
    with pytest.raises(InvalidJob, match="cannot send job 't'"):
        job.to_pb()


def test_a_wire_job_reads_as_typed_values() -> None:
    wire = pb.Job(
        id="j1",
        job_type="email",
        payload='{"to": "a@b.c"}',
        status="running",
        priority=1,
        retry_count=2,
        max_retries=3,
        delay=30,
        scheduled_at=1_900_000_000,
        started_at=1_900_000_010,
        created_at=1_899_999_999,
        updated_at=1_900_000_010,
        lease_token=3,
        worker_id="w",
        lease_expires_at=1_900_000_310,
    )

    job = JobInfo.from_pb(wire)

    assert (job.id, job.job_type, job.payload, job.raw_payload) == (
        "j1",
        "email",
        {"to": "a@b.c"},
        wire.payload,
    )
    assert job.status is JobStatus.RUNNING
    assert (job.priority, job.retry_count, job.max_retries, job.delay, job.lease_token) == (1, 2, 3, 30, 3)
    assert job.started_at == datetime(2030, 3, 17, 17, 46, 50, tzinfo=UTC)
    assert job.lease_expires_at is not None and job.lease_expires_at.timestamp() == 1_900_000_310
    assert (job.completed_at, job.error_message, job.worker_id) == (None, None, "w")  # 0 and "" are unset


def test_the_clients_states_are_the_servers() -> None:
    assert {status.value for status in JobStatus} == {status.value for status in DomainStatus}


def test_a_timeout_and_metadata_go_on_the_wire() -> None:
    sent = NewJob("t", timeout=timedelta(minutes=2), metadata={"tenant": "acme", "trace.id": "7"}).to_pb()
    plain = NewJob("t").to_pb()

    assert (sent.timeout_seconds, dict(sent.metadata)) == (120.0, {"tenant": "acme", "trace.id": "7"})
    assert NewJob("t", timeout=2.5).to_pb().timeout_seconds == 2.5
    assert (plain.timeout_seconds, dict(plain.metadata)) == (0.0, {})  # the server's default, none


@pytest.mark.parametrize(
    ("job", "words"),
    [
        (NewJob("t", metadata={"n": 1}), "metadata maps str to str; got 'n': 1"),  # type: ignore[dict-item]
        (NewJob("t", metadata=[("a", "b")]), "metadata must be a mapping"),  # type: ignore[arg-type]
        (NewJob("t", timeout=float("nan")), "timeout must be a finite number"),
    ],
)
def test_metadata_and_timeouts_the_wire_cannot_carry_are_invalid_job(job: NewJob, words: str) -> None:
    with pytest.raises(InvalidJob, match=words):
        job.to_pb()


def test_results_none_is_none_anything_else_json() -> None:
    assert encode_result(None) is None
    assert encode_result("done") == '"done"'  # a str is a JSON string, not JSON text
    assert encode_result({"sent": [1, 2.5]}) == '{"sent": [1, 2.5]}'
    assert encode_result(0) == "0" and encode_result(False) == "false"


@pytest.mark.parametrize("value", [{1, 2}, object(), float("nan"), {"at": datetime(2030, 1, 1)}])
def test_a_result_json_cannot_carry_is_invalid_job_saying_so(value: object) -> None:
    with pytest.raises(InvalidJob, match="the result cannot be serialised as JSON"):
        encode_result(value)


def test_a_wire_job_reads_its_result_metadata_timeout_and_attempts() -> None:
    wire = pb.Job(
        id="j1",
        job_type="t",
        payload="{}",
        status="completed",
        result='{"sent": 3}',
        metadata={"traceparent": "00-abc-def-01"},
        timeout_seconds=30.0,
        attempt_deadline=1_900_000_030.5,
        attempts=[
            pb.Attempt(number=1, worker_id="w1", started_at=1_900_000_000.25, ended_at=1_900_000_001.5,
                       outcome="failed", error="boom"),
            pb.Attempt(number=2, worker_id="w2", started_at=1_900_000_002, ended_at=1_900_000_003,
                       outcome="completed"),
        ],
    )  # fmt: skip

    job = JobInfo.from_pb(wire)
    bare = JobInfo.from_pb(pb.Job(id="j2", job_type="t", payload="{}", status="queued"))

    assert (job.result, job.raw_result, job.metadata) == ({"sent": 3}, '{"sent": 3}', wire.metadata)
    assert isinstance(job.metadata, dict)
    assert job.timeout == 30.0
    assert job.attempt_deadline == datetime(2030, 3, 17, 17, 47, 10, 500000, tzinfo=UTC)
    first, second = job.attempts
    assert (first.number, first.worker_id, first.outcome, first.error) == (1, "w1", "failed", "boom")
    assert first.started_at is not None and first.started_at.timestamp() == 1_900_000_000.25
    assert (second.outcome, second.error) == ("completed", None)
    assert (bare.result, bare.raw_result, bare.metadata, bare.timeout) == (None, None, {}, None)
    assert (bare.attempt_deadline, bare.attempts) == (None, ())


def test_a_json_null_result_is_told_from_no_result_by_its_text() -> None:
    job = JobInfo.from_pb(pb.Job(id="j", job_type="t", payload="{}", status="completed", result="null"))

    assert (job.result, job.raw_result) == (None, "null")


def test_only_completed_failed_and_cancelled_are_finished_and_end_a_watch() -> None:
    finished = {status for status in JobStatus if status.finished}
    event = JobEvent(JobInfo.from_pb(pb.Job(id="j", job_type="t", payload="{}", status="cancelled")))
    going_on = JobEvent(JobInfo.from_pb(pb.Job(id="j", job_type="t", payload="{}", status="running")))

    assert finished == {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
    assert (event.last, going_on.last) == (True, False)


def test_a_stop_message_reads_as_a_job_stop() -> None:
    wire = pb.JobStop(job_id="j", lease_token=3, reason="timed_out", message="timed out after 30 s")

    assert JobStop.from_pb(wire) == JobStop("j", 3, "timed_out", "timed out after 30 s")


def test_the_result_errors_carry_the_job_and_survive_pickling() -> None:
    dead = JobInfo.from_pb(pb.Job(id="j", job_type="t", payload="{}", status="failed", error_message="boom"))
    gone = JobInfo.from_pb(pb.Job(id="k", job_type="t", payload="{}", status="cancelled"))
    silent = JobInfo.from_pb(pb.Job(id="m", job_type="t", payload="{}", status="failed"))

    failed, cancelled = JobFailed(dead), JobCancelled(gone)
    assert (str(failed), failed.job) == ("boom", dead)
    assert (str(cancelled), cancelled.job) == ("job k (t) was cancelled", gone)
    assert str(JobFailed(silent)) == "job m failed"
    again = pickle.loads(pickle.dumps(failed))
    assert (type(again), str(again), again.job) == (JobFailed, "boom", dead)
