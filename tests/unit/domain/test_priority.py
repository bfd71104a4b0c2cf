"""The order in which ready jobs go out: priority, then due time, then arrival (the UUIDv7 id)."""

from __future__ import annotations

import random

import pytest

from stackduck.domain.job import Job
from stackduck.domain.priority import DEFAULT_PRIORITY, HIGH, LOW, NORMAL, PRIORITIES, ready_key
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec

T0 = 1_700_000_000.0


def uuid7(ms: int, seq: int = 0) -> str:
    """A UUIDv7 string for Unix time ``ms`` (milliseconds) and in-millisecond counter ``seq``."""
    value = ms << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | 0x1234_5678_9ABC
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def in_order(keys: list[tuple[int, float, str]]) -> None:
    """Assert ``keys`` is the hand-out order, whatever order they arrive in."""
    for seed in range(5):
        shuffled = keys[:]
        random.Random(seed).shuffle(shuffled)
        assert sorted(shuffled) == keys


def test_the_priority_levels() -> None:
    assert (HIGH, NORMAL, LOW) == PRIORITIES == (1, 2, 3)
    assert DEFAULT_PRIORITY == NORMAL


def test_the_key_is_priority_due_time_id() -> None:
    assert ready_key(2, T0, "abc") == (2, T0, "abc")


def test_higher_priority_goes_first_whatever_its_due_time() -> None:
    in_order(
        [
            ready_key(1, T0 + 1000, uuid7(9_000)),
            ready_key(2, T0, uuid7(1_000)),
            ready_key(2, T0 + 5, uuid7(500)),
            ready_key(3, T0 - 1000, uuid7(1)),
        ]
    )


def test_within_a_priority_the_earlier_due_goes_first_whatever_the_id() -> None:
    in_order(
        [
            ready_key(2, T0 - 60, uuid7(3_000)),
            ready_key(2, T0, uuid7(2_000)),
            ready_key(2, T0 + 0.001, uuid7(1_000)),
            ready_key(2, T0 + 60, uuid7(0)),
        ]
    )


def test_same_priority_and_due_time_go_out_in_id_order() -> None:
    ids = [uuid7(1_000), uuid7(1_000, 1), uuid7(1_000, 2), uuid7(1_001), uuid7(2**40)]
    assert ids == sorted(ids)
    in_order([ready_key(3, T0, job_id) for job_id in ids])


def test_a_full_mix() -> None:
    expected = [
        ready_key(priority, due, uuid7(ms))
        for priority in (1, 2, 3)
        for due in (T0 - 1, T0, T0 + 1)
        for ms in (10, 11, 12)
    ]
    in_order(expected)


@pytest.mark.parametrize("priority", [1, 2, 3])
def test_a_job_s_ready_key_is_built_from_priority_run_at_and_id(priority: int) -> None:
    spec = JobSpec(job_type="t", payload="{}", priority=priority, delay=30, max_retries=2, run_at=T0 + 5)
    job = Job.new(uuid7(77), spec, now=T0)
    assert job.ready_key == (priority, T0 + 5, uuid7(77))


def test_a_retried_job_queues_behind_by_its_new_due_time() -> None:
    spec = JobSpec(job_type="t", payload="{}", priority=2, delay=30, max_retries=2, run_at=T0)
    first = Job.new(uuid7(1), spec, now=T0)
    second = Job.new(uuid7(2), spec, now=T0)
    first.start("w", now=T0, lease_seconds=30)
    first.fail("w", 1, now=T0 + 1, error_message="boom", policy=RetryPolicy())

    assert sorted([first.ready_key, second.ready_key]) == [second.ready_key, first.ready_key]
