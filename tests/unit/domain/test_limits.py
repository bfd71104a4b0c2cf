"""Limits: what a client may ask for, and the bucket's arithmetic."""

from __future__ import annotations

import pytest

from stackduck.domain.errors import InvalidJob
from stackduck.domain.limits import Allowance, Bucket, Limit

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "needs concurrency"),
        ({"concurrency": -1}, "concurrency must be 1 to"),
        ({"concurrency": 1_000_001}, "concurrency must be 1 to"),
        ({"rate": float("inf")}, "rate must be above 0"),
        ({"rate": 1_000_001}, "rate must be above 0"),
        ({"rate": 1, "per": 0.0001}, "per must be 0.001 to"),
        ({"rate": 1, "per": float("nan")}, "per must be"),
        ({"rate": 1, "burst": 1_000_001}, "burst must be 1 to"),
        ({"concurrency": 2, "per": 5}, "give rate with them"),
        ({"concurrency": 2, "burst": 5}, "give rate with them"),
    ],
)
def test_a_bad_limit_says_what_to_fix(fields: dict[str, float], words: str) -> None:
    with pytest.raises(InvalidJob, match=words):
        Limit.of("mail", **fields)  # type: ignore[arg-type]


def test_a_limit_defaults_its_period_and_its_bucket() -> None:
    assert Limit.of("mail", concurrency=3) == Limit("mail", 3, 0.0, 1.0, 0)
    rated = Limit.of("api", rate=2.5)
    assert (rated.per, rated.bucket_size, rated.refill_per_second) == (1.0, 3.0, 2.5)
    assert Limit.of("api", rate=0.2, per=60).bucket_size == 1.0
    assert Limit.of("api", rate=100, burst=5).bucket_size == 5.0
    with pytest.raises(InvalidJob, match="job_type"):
        Limit.of("", concurrency=1)


def test_the_allowance_is_the_tighter_of_the_two_limits() -> None:
    both = Limit.of("api", concurrency=5, rate=10, burst=3)
    assert both.allowance(0, None, NOW, 10) == Allowance(3, rate_bound=True)  # a new bucket: full
    assert both.allowance(4, None, NOW, 10) == Allowance(1, rate_bound=False)
    assert both.allowance(9, None, NOW, 10) == Allowance(0, rate_bound=False)  # over: none, never negative
    assert both.allowance(0, Bucket(0.5, NOW), NOW, 10) == Allowance(0, rate_bound=True)
    assert both.allowance(0, Bucket(0.5, NOW), NOW + 0.05, 10) == Allowance(1, rate_bound=True)
    assert both.allowance(0, None, NOW, 2) == Allowance(2, rate_bound=False)  # what is wanted binds
    assert Limit.of("mail", concurrency=2).allowance(1, None, NOW, 10) == Allowance(1)


def test_spending_takes_a_token_a_start_and_refills_at_the_rate() -> None:
    limit = Limit.of("api", rate=4, per=2.0, burst=4)  # 2 tokens a second
    after = limit.spend(None, 4, NOW)
    assert after == Bucket(0.0, NOW)
    assert limit.next_token_at(after, NOW) == pytest.approx(NOW + 0.5)
    assert after is not None and after.level(limit, NOW + 1) == pytest.approx(2.0)
    again = limit.spend(after, 2, NOW + 1)
    assert again is not None and again.tokens == pytest.approx(0.0) and again.at == NOW + 1
    assert Limit.of("mail", concurrency=1).spend(None, 3, NOW) is None  # no rate, no bucket
    assert limit.next_token_at(Bucket(3.0, NOW), NOW) == NOW  # a token now


def test_a_clock_behind_the_bucket_neither_refills_it_nor_moves_it_back() -> None:
    limit = Limit.of("api", rate=10, burst=10)
    bucket = Bucket(2.0, NOW)
    assert bucket.level(limit, NOW - 30) == 2.0
    spent = limit.spend(bucket, 1, NOW - 30)
    assert spent == Bucket(1.0, NOW)


def test_over_any_window_no_more_start_than_burst_plus_the_rate() -> None:
    limit = Limit.of("api", rate=3, per=1.0, burst=2)
    bucket: Bucket | None = None
    starts: list[float] = []
    for step in range(1000):  # a claim every 10 ms, each wanting all it can get
        now = NOW + step * 0.01
        allowed = limit.allowance(0, bucket, now, 100).starts
        bucket = limit.spend(bucket, allowed, now)
        starts.extend([now] * allowed)
    assert 2 + 3 * 9.9 - 1 <= len(starts) <= 2 + 3 * 10
    for i, first in enumerate(starts):
        for last in starts[i:]:
            inside = sum(1 for at in starts if first <= at <= last)
            assert inside <= 2 + 3 * (last - first) + 1e-9
