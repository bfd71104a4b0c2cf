"""Job ids: valid UUIDv7, unique, and strictly increasing as strings within a process."""

from __future__ import annotations

import itertools
import uuid

import pytest

from stackduck.application.ids import JobIds

T0 = 1_700_000_000.123
N = 10_000


def assert_strictly_increasing_and_unique(ids: list[str]) -> None:
    assert len(set(ids)) == len(ids)
    for earlier, later in itertools.pairwise(ids):
        assert earlier < later, (earlier, later)


def test_an_id_is_a_canonical_uuid_version_7_carrying_the_millisecond() -> None:
    job_id = JobIds().new(T0)

    parsed = uuid.UUID(job_id)
    assert str(parsed) == job_id  # canonical: lowercase, hyphenated, 36 characters
    assert len(job_id) == 36
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == int(T0 * 1000)


def test_ids_with_the_same_now_strictly_increase() -> None:
    ids_source = JobIds()
    ids = [ids_source.new(T0) for _ in range(N)]  # more than the 4096 a millisecond's counter holds

    assert_strictly_increasing_and_unique(ids)
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)


@pytest.mark.parametrize("step", [0.0000001, 0.0001, 0.001, 0.0015, 1.0], ids=lambda s: f"step-{s}")
def test_ids_with_an_increasing_now_strictly_increase(step: float) -> None:
    ids_source = JobIds()
    ids = [ids_source.new(T0 + i * step) for i in range(N)]

    assert_strictly_increasing_and_unique(ids)
    assert all(uuid.UUID(job_id).version == 7 for job_id in ids)


def test_ids_keep_increasing_when_the_clock_steps_back() -> None:
    ids_source = JobIds()
    ids = [ids_source.new(T0 + 10)] + [ids_source.new(T0 - i * 0.001) for i in range(1000)]

    assert_strictly_increasing_and_unique(ids)


def test_two_sources_make_different_ids_for_the_same_instant() -> None:
    first = [JobIds().new(T0) for _ in range(100)]
    assert len(set(first)) == 100


def test_the_timestamp_follows_now() -> None:
    ids_source = JobIds()
    earlier = uuid.UUID(ids_source.new(T0)).int >> 80
    later = uuid.UUID(ids_source.new(T0 + 5)).int >> 80
    assert later - earlier == 5000


@pytest.mark.parametrize("size", [1, 7, 4096, 5000])
def test_ids_made_in_batches_strictly_increase_across_batches_and_single_ids(size: int) -> None:
    ids_source = JobIds()
    ids: list[str] = []
    for i in range(6):
        now = T0 + (i // 2) * 0.0005  # some batches share a millisecond with the one before
        ids += ids_source.new_many(now, size)
        ids.append(ids_source.new(now))

    assert_strictly_increasing_and_unique(ids)
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert (str(parsed), parsed.version, parsed.variant) == (job_id, 7, uuid.RFC_4122)
    assert uuid.UUID(ids[0]).int >> 80 == int(T0 * 1000)
