"""What the client sends and reads: payloads, options, wire times and states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stackduck.client.jobs import JobInfo, JobStatus, NewJob, encode_payload
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
