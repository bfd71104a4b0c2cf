"""Exponential backoff capped at one hour, and jitter that only ever lengthens the wait."""

from __future__ import annotations

import math

import pytest

from stackduck.domain.retry import MAX_BACKOFF_SECONDS, RetryPolicy, backoff_seconds


def test_the_cap_is_one_hour() -> None:
    assert MAX_BACKOFF_SECONDS == 3600


@pytest.mark.parametrize(
    ("delay", "n", "expected"),
    [
        (30, 0, 30),
        (30, 1, 60),
        (30, 2, 120),
        (30, 3, 240),
        (30, 4, 480),
        (30, 5, 960),
        (30, 6, 1920),
        (30, 7, 3600),  # 3840 capped
        (30, 8, 3600),
        (1, 0, 1),
        (1, 1, 2),
        (1, 10, 1024),
        (1, 11, 2048),
        (1, 12, 3600),  # 4096 capped
        (1, 13, 3600),
        (7, 9, 3584),  # just under the cap
        (7, 10, 3600),
        (225, 4, 3600),  # exactly the cap
        (1800, 1, 3600),
        (1800, 2, 3600),
        (3600, 0, 3600),
        (3600, 1, 3600),
        (3600, 11, 3600),
        (3600, 12, 3600),
        (0, 0, 0),
        (0, 11, 0),
        (0, 12, 0),
        (0, 500, 0),
    ],
)
def test_backoff_is_delay_doubled_per_failure_and_capped(delay: int, n: int, expected: int) -> None:
    assert backoff_seconds(delay, n) == expected
    assert backoff_seconds(delay, n) == min(delay * 2**n, 3600)


@pytest.mark.parametrize("delay", [1, 30, 3600])
@pytest.mark.parametrize("n", [12, 64, 500, 10**6, 10**18])
@pytest.mark.timeout(5)
def test_huge_failure_counts_hit_the_cap_without_computing_huge_numbers(delay: int, n: int) -> None:
    assert backoff_seconds(delay, n) == MAX_BACKOFF_SECONDS


@pytest.mark.parametrize(("delay", "n"), [(-1, 0), (0, -1), (30, -1), (-30, 3), (-1, 500)])
def test_negative_inputs_are_refused(delay: int, n: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        backoff_seconds(delay, n)


# -- RetryPolicy ---------------------------------------------------------------


def test_the_default_policy_has_no_jitter() -> None:
    assert RetryPolicy().jitter == 0.0
    assert RetryPolicy().wait(30, 2, 0.9) == 120


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize(("delay", "n"), [(1, 0), (30, 0), (30, 3), (30, 7), (3600, 0), (5, 500)])
def test_no_random_stretch_means_exactly_the_backoff(jitter: float, delay: int, n: int) -> None:
    assert RetryPolicy(jitter=jitter).wait(delay, n, unit_random=0.0) == backoff_seconds(delay, n)
    assert RetryPolicy(jitter=jitter).wait(delay, n) == backoff_seconds(delay, n)


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("unit_random", [0.0, 1e-9, 0.25, 0.5, 0.75, 0.999999, math.nextafter(1.0, 0.0)])
@pytest.mark.parametrize(("delay", "n"), [(1, 0), (30, 0), (30, 4), (3600, 0), (7, 500)])
def test_jitter_only_ever_lengthens_the_wait_by_at_most_jitter_times_itself(
    jitter: float, unit_random: float, delay: int, n: int
) -> None:
    base = backoff_seconds(delay, n)

    wait = RetryPolicy(jitter=jitter).wait(delay, n, unit_random)

    assert base <= wait <= base * (1 + jitter) * (1 + 1e-12)


@pytest.mark.parametrize(
    ("jitter", "unit_random", "expected"),
    [
        (0.5, 0.5, 37.5),
        (1.0, 0.5, 45.0),
        (0.2, 0.25, 31.5),
        (0.0, 0.99, 30.0),
    ],
)
def test_jitter_stretches_the_wait_by_jitter_times_unit_random(
    jitter: float, unit_random: float, expected: float
) -> None:
    assert RetryPolicy(jitter=jitter).wait(30, 0, unit_random) == pytest.approx(expected)


def test_a_larger_random_factor_never_shortens_the_wait() -> None:
    policy = RetryPolicy(jitter=0.7)
    waits = [policy.wait(30, 3, u / 100) for u in range(100)]
    assert waits == sorted(waits)
    assert waits[0] == 240


@pytest.mark.parametrize("jitter", [0.0, 1.0, 0.5])
def test_jitter_within_zero_and_one_is_accepted(jitter: float) -> None:
    assert RetryPolicy(jitter=jitter).jitter == jitter


@pytest.mark.parametrize("jitter", [-0.1, -1e-12, 1.0 + 1e-9, 1.5, 2.0, math.nan, math.inf, -math.inf])
def test_jitter_outside_zero_and_one_is_refused(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=jitter)


@pytest.mark.parametrize("unit_random", [-0.1, -1e-12, 1.0, 1.5, math.nan, math.inf])
def test_unit_random_outside_zero_inclusive_one_exclusive_is_refused(unit_random: float) -> None:
    with pytest.raises(ValueError, match="unit_random"):
        RetryPolicy(jitter=0.5).wait(30, 0, unit_random)


def test_wait_refuses_negative_inputs_like_backoff() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().wait(-1, 0)
    with pytest.raises(ValueError):
        RetryPolicy().wait(30, -1)
