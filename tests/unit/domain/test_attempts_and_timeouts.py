"""A job's attempts: the run time each may take, how each ended, and the history kept."""

from __future__ import annotations

import json

import pytest

from stackduck.domain.errors import InvalidJob, LeaseMismatch, LimitExceeded
from stackduck.domain.job import MAX_ATTEMPT_ERROR_LENGTH, MAX_ATTEMPTS_KEPT, Job, JobStatus
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import (
    JobRequest,
    validate,
    validate_metadata,
    validate_result,
    validate_retry_in,
)

NOW = 1_800_000_000.0
LEASE = 60.0
POLICY = RetryPolicy()


def job(timeout: float = 0.0, max_retries: int = 2) -> Job:
    spec = validate(JobRequest("t", "{}", max_retries=max_retries, timeout=timeout), NOW, 1024)
    return Job.new("0199aaaa-7d1e-7000-8000-000000000001", spec, NOW)


def test_a_timed_attempt_gets_its_deadline_and_a_lease_that_never_runs_past_it() -> None:
    short, long_ = job(timeout=10), job(timeout=600)

    short.start("w", NOW, LEASE)
    long_.start("w", NOW, LEASE)

    assert (short.attempt_deadline, short.lease_expires_at) == (NOW + 10, NOW + 10)
    assert (long_.attempt_deadline, long_.lease_expires_at) == (NOW + 600, NOW + LEASE)
    assert long_.heartbeat("w", 1, NOW + 590, LEASE) == NOW + 600


def test_no_answer_is_taken_once_the_attempt_is_past_its_deadline() -> None:
    timed = job(timeout=10)
    timed.start("w", NOW, LEASE)

    for answer in (
        lambda: timed.complete("w", 1, NOW + 10),
        lambda: timed.fail("w", 1, NOW + 10, "late", POLICY),
        lambda: timed.heartbeat("w", 1, NOW + 10, LEASE),
        lambda: timed.release("w", 1, NOW + 10),
    ):
        with pytest.raises(LeaseMismatch, match="timed out after 10 s"):
            answer()
    assert timed.status is JobStatus.RUNNING and timed.attempts == ()


def test_a_lease_that_ends_at_the_deadline_is_a_timeout_one_that_ends_before_is_not() -> None:
    timed, quiet = job(timeout=10), job(timeout=600)
    timed.start("w", NOW, LEASE)
    quiet.start("w", NOW, LEASE)

    assert timed.expire(NOW + 10, POLICY) and quiet.expire(NOW + LEASE, POLICY)

    assert (timed.error_message, timed.attempts[0].outcome) == ("timed out after 10 s", "timed_out")
    assert quiet.attempts[0].outcome == "lease_expired" and quiet.attempt_deadline is None


def test_every_ended_attempt_is_kept_with_its_worker_times_and_outcome() -> None:
    j = job(max_retries=5)
    j.start("a", NOW, LEASE)
    j.release("a", 1, NOW + 1)
    j.start("b", NOW + 2, LEASE)
    j.fail("b", 2, NOW + 3, "x" * (MAX_ATTEMPT_ERROR_LENGTH + 10), POLICY, retry_in=0)
    j.start("c", NOW + 4, LEASE)
    j.complete("c", 3, NOW + 5, result='{"ok": true}')

    assert [(a.number, a.worker_id, a.started_at, a.ended_at, a.outcome) for a in j.attempts] == [
        (1, "a", NOW, NOW + 1, "released"),
        (2, "b", NOW + 2, NOW + 3, "failed"),
        (3, "c", NOW + 4, NOW + 5, "completed"),
    ]
    assert len(j.attempts[1].error) == MAX_ATTEMPT_ERROR_LENGTH
    assert j.result == '{"ok": true}'


def test_only_the_latest_attempts_are_kept() -> None:
    j = job(max_retries=100)
    for n in range(1, MAX_ATTEMPTS_KEPT + 6):
        j.start("w", NOW + n, LEASE)
        j.fail("w", n, NOW + n, f"e{n}", POLICY, retry_in=0)

    assert len(j.attempts) == MAX_ATTEMPTS_KEPT
    assert [a.number for a in j.attempts] == list(range(6, MAX_ATTEMPTS_KEPT + 6))


def test_a_failure_may_set_its_own_wait_and_still_counts() -> None:
    j = job(max_retries=1)
    j.start("w", NOW, LEASE)

    assert j.fail("w", 1, NOW, "busy", POLICY, retry_in=120)
    assert (j.run_at, j.retry_count) == (NOW + 120, 1)
    j.start("w", NOW + 120, LEASE)
    assert not j.fail("w", 2, NOW + 121, "busy", POLICY, retry_in=120)  # none left: dead
    assert j.status is JobStatus.FAILED


def test_metadata_is_kept_as_one_canonical_json_object() -> None:
    text = validate_metadata({"b": "2", "a": "ü"})

    assert text == '{"a":"ü","b":"2"}' and json.loads(text) == {"a": "ü", "b": "2"}
    assert validate_metadata({}) == ""


@pytest.mark.parametrize(
    "metadata",
    [{"": "v"}, {"k k": "v"}, {"k" * 129: "v"}, {"k": "nul\x00"}, {f"k{i}": "" for i in range(65)}],
)
def test_metadata_that_breaks_a_rule_is_refused(metadata: dict[str, str]) -> None:
    with pytest.raises(InvalidJob):
        validate_metadata(metadata)


def test_a_result_must_be_json_within_the_limit() -> None:
    assert validate_result(None, 10) is None
    assert validate_result("[1, 2]", 10) == "[1, 2]"
    with pytest.raises(InvalidJob, match="JSON text"):
        validate_result("nope", 10)
    with pytest.raises(LimitExceeded, match="11 bytes"):
        validate_result('"123456789"', 10)


def test_retry_in_is_bounded_and_not_with_no_retry() -> None:
    assert validate_retry_in(None, False) is None
    assert validate_retry_in(0.0, True) == 0.0
    for bad in (-1.0, float("nan"), 1e12):
        with pytest.raises(InvalidJob, match="retry_in"):
            validate_retry_in(bad, True)
    with pytest.raises(InvalidJob, match="not both"):
        validate_retry_in(5.0, False)


def test_a_timeout_of_zero_takes_the_servers_default() -> None:
    spec = validate(JobRequest("t", "{}"), NOW, 1024, default_timeout=30)
    own = validate(JobRequest("t", "{}", timeout=5), NOW, 1024, default_timeout=30)

    assert (spec.timeout, own.timeout) == (30, 5)
    with pytest.raises(InvalidJob, match="timeout_seconds"):
        validate(JobRequest("t", "{}", timeout=float("nan")), NOW, 1024)
