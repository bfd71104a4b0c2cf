"""The retry policy: exponential backoff, capped at one hour.

After the n-th failure (n counted from 0) a job waits ``delay * 2**n``
seconds, never more than :data:`MAX_BACKOFF_SECONDS`, before it is delivered
again. Optional jitter only ever lengthens that wait, so that many jobs that
failed together do not all come back in the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BACKOFF_SECONDS = 3600


def backoff_seconds(delay: int, failures_before: int) -> int:
    """Wait after a failure, given the backoff base and earlier failures (n)."""
    if delay < 0 or failures_before < 0:
        raise ValueError("delay and failure count must not be negative")
    if delay and failures_before >= 12:  # 2**12 > 3600: the cap applies to every delay ≥ 1
        return MAX_BACKOFF_SECONDS
    return min(delay * (1 << failures_before), MAX_BACKOFF_SECONDS)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a failed job waits before its next delivery.

    ``jitter`` is a fraction: the wait is stretched by up to ``jitter`` times
    itself, by the factor ``unit_random`` in [0, 1) that the caller supplies.
    """

    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("retry jitter must be between 0.0 and 1.0")

    def wait(self, delay: int, failures_before: int, unit_random: float = 0.0) -> float:
        base = backoff_seconds(delay, failures_before)
        if not 0.0 <= unit_random < 1.0:
            raise ValueError("unit_random must be in [0, 1)")
        return base + base * self.jitter * unit_random
