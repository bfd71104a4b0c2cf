"""Limits on how a job type's jobs start: at most ``concurrency`` running at once, at
most ``group_concurrency`` of one fair-queue group running at once (ADR 0029), and at
most ``rate`` starts per ``per`` seconds through a token bucket of ``burst`` tokens
(ADR 0028). Pure arithmetic: which storage keeps the running count and the bucket, and
how it is locked across instances, is the adapters' business; what they decide with it
is this module's.

A token bucket holds up to ``burst`` tokens and gains ``rate / per`` tokens a second; a
start takes one. Over any window of ``t`` seconds at most ``burst + rate · t / per``
jobs start. A new bucket is full. Held jobs stay queued, in their order: a limit never
drops or reorders anything, it only says how many may start now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stackduck.domain.errors import InvalidJob, quoted
from stackduck.domain.rules import validate_job_type

#: The most jobs of one type a concurrency limit may allow running at once.
MAX_CONCURRENCY = 1_000_000
#: The most starts a rate may allow per period, and the largest bucket.
MAX_RATE = 1_000_000.0
MAX_BURST = 1_000_000
#: A rate's period: from a millisecond to a day.
MIN_PER_SECONDS = 0.001
MAX_PER_SECONDS = 86_400.0
#: Fair groups (ADR 0029): how long a group at its group_concurrency is passed over if
#: no end of one of its jobs is heard of (the end brings it back at once) ...
PARK_SECONDS = 30.0
#: ... and what separates the turns of the groups one claim serves.
SERVED_STEP = 1e-6


@dataclass(frozen=True, slots=True)
class Limit:
    """A job type's limits; 0 means "none" for ``concurrency`` and ``rate``."""

    job_type: str
    concurrency: int = 0
    rate: float = 0.0
    per: float = 1.0
    #: The bucket's size; 0 = the rate's own (``ceil(rate)``, at least 1).
    burst: int = 0
    #: At most this many of one group's jobs running at once; 0 = none.
    group_concurrency: int = 0

    @classmethod
    def of(
        cls,
        job_type: str,
        concurrency: int = 0,
        rate: float = 0.0,
        per: float = 0.0,
        burst: int = 0,
        group_concurrency: int = 0,
    ) -> Limit:
        """A limit from a client's values (0 = not given; ``per`` defaults to one second),
        or :class:`InvalidJob` saying what to fix."""
        validate_job_type(job_type)
        if not concurrency and not rate and not group_concurrency:
            raise InvalidJob(
                f"a limit on {quoted(job_type)} needs concurrency (jobs running at once), "
                "group_concurrency (jobs of one group running at once) or rate (starts per period); "
                "to remove its limit, clear it"
            )
        if not 0 <= concurrency <= MAX_CONCURRENCY:
            raise InvalidJob(f"concurrency must be 1 to {MAX_CONCURRENCY:,}; got {concurrency}")
        if not 0 <= group_concurrency <= MAX_CONCURRENCY:
            raise InvalidJob(f"group_concurrency must be 1 to {MAX_CONCURRENCY:,}; got {group_concurrency}")
        if not (math.isfinite(rate) and 0 <= rate <= MAX_RATE):
            raise InvalidJob(
                f"rate must be above 0 and at most {MAX_RATE:,.0f} starts per period; got {rate}"
            )
        if rate:
            per = per or 1.0
            if not (math.isfinite(per) and MIN_PER_SECONDS <= per <= MAX_PER_SECONDS):
                raise InvalidJob(
                    f"per must be {MIN_PER_SECONDS} to {MAX_PER_SECONDS:,.0f} seconds; got {per}"
                )
            if not 0 <= burst <= MAX_BURST:
                raise InvalidJob(f"burst must be 1 to {MAX_BURST:,} starts; got {burst}")
        elif per or burst:
            raise InvalidJob("per and burst shape a rate: give rate with them")
        return cls(job_type, concurrency, float(rate), float(per or 1.0), burst, group_concurrency)

    @property
    def bucket_size(self) -> float:
        """How many starts the bucket allows at once."""
        return float(self.burst or max(1, math.ceil(self.rate)))

    @property
    def refill_per_second(self) -> float:
        return self.rate / self.per

    def full_bucket(self, now: float) -> Bucket:
        return Bucket(self.bucket_size, now)

    def allowance(self, running: int, bucket: Bucket | None, now: float, want: int) -> Allowance:
        """How many of ``want`` jobs may start now, with ``running`` of the type running
        and the bucket as stored (None: a new one, full)."""
        starts, rate_bound = want, False
        if self.concurrency:
            starts = min(starts, max(0, self.concurrency - running))
        if self.rate:
            # A millionth of a token of slack: times are Unix seconds, whose doubles carry
            # about 0.2 µs, so a claim woken at the next token may read a hair before it.
            tokens = math.floor((bucket or self.full_bucket(now)).level(self, now) + 1e-6)
            if tokens < starts:
                starts, rate_bound = max(0, tokens), True
        return Allowance(starts, rate_bound)

    def tokens(self, bucket: Bucket | None, now: float) -> float | None:
        """The starts the bucket allows at ``now`` (None: this limit has no rate)."""
        if not self.rate:
            return None
        return (bucket or self.full_bucket(now)).level(self, now)

    def group_allowance(self, running: int, want: int) -> int:
        """How many of ``want`` jobs of one group may start now, with ``running`` of the
        group's jobs running."""
        if not self.group_concurrency:
            return want
        return min(want, max(0, self.group_concurrency - running))

    def spend(self, bucket: Bucket | None, started: int, now: float) -> Bucket | None:
        """The bucket once ``started`` jobs took a token each (None: this limit has no rate)."""
        if not self.rate:
            return None
        level = (bucket or self.full_bucket(now)).level(self, now)
        return Bucket(max(0.0, level - started), max(now, bucket.at if bucket else now))

    def next_token_at(self, bucket: Bucket | None, now: float) -> float:
        """When the bucket next holds a whole token (``now`` if it does already)."""
        if not self.rate or bucket is None:
            return now
        level = bucket.level(self, now)
        if level >= 1:
            return now
        return max(now, bucket.at) + (1 - level) / self.refill_per_second


@dataclass(frozen=True, slots=True)
class Bucket:
    """A rate limit's bucket as stored: ``tokens`` as of ``at``."""

    tokens: float
    at: float

    def level(self, limit: Limit, now: float) -> float:
        """The tokens at ``now`` (a clock behind ``at``, another instance's, adds none)."""
        gained = max(0.0, now - self.at) * limit.refill_per_second
        return min(limit.bucket_size, self.tokens + gained)


@dataclass(frozen=True, slots=True)
class Allowance:
    """How many jobs may start now, and whether the rate is what stops more (then a
    claim at the bucket's next token may find more; else only a running job's end can)."""

    starts: int
    rate_bound: bool = False
