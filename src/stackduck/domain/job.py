"""The Job and its state machine.

States and the moves between them (``now`` is always passed in)::

    queued ──start──▶ running ──complete──▶ completed
      │  ▲              │ │ │
      │  └──release─────┘ │ └──fail / expire, retries left──▶ queued (run_at = now + backoff)
      │                   └────fail / expire, none left, or no_retry──▶ failed (dead letter)
      ├──cancel──▶ cancelled ◀──cancel── running
      │                               failed ──requeue──▶ queued
      └──run_now──▶ queued, due now (cuts short a schedule or a retry's backoff)

* ``start`` needs the job to be due (``run_at <= now``); a queued job that is
  not yet due is what the API calls *scheduled*.
* ``release`` hands a job back without counting a failure (its worker's stream
  closed); it keeps its place in line.
* Every ``start`` increments ``attempt``, which is the delivery's *lease token*:
  acknowledgements carrying an older token are refused, so a worker whose lease
  ran out cannot overwrite the attempt that replaced it.
* A job with a ``timeout`` gets an ``attempt_deadline`` at each start; its lease never
  runs past it (heartbeats included), no answer is taken after it, and when the lease
  expires there the attempt fails as timed out.
* Every move that ends an attempt (complete, fail, expire, release, cancel while
  running) records it in ``attempts``: the last :data:`MAX_ATTEMPTS_KEPT` are kept.

Any other move raises :class:`IllegalTransition` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from operator import attrgetter
from typing import Any, NamedTuple

from stackduck.domain.errors import IllegalTransition, LeaseMismatch, quoted
from stackduck.domain.priority import ReadyKey, ready_key
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Each state by its stored name: what stores read back (``JobStatus(text)`` costs about 20x
#: more, and a store reads one per job).
STATUS_OF: dict[str, JobStatus] = {status.value: status for status in JobStatus}

Q, R, C, F, X = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)

#: For every move, the states it may start from.
ALLOWED_FROM: dict[str, frozenset[JobStatus]] = {
    "start": frozenset({Q}),
    "heartbeat": frozenset({R}),
    "complete": frozenset({R}),
    "fail": frozenset({R}),
    "expire": frozenset({R}),
    "release": frozenset({R}),
    "cancel": frozenset({Q, R}),
    "requeue": frozenset({F}),
    "run_now": frozenset({Q}),
}

TERMINAL = frozenset({C, F, X})
#: The most deliveries one job can have: its attempt (the lease token) is a 32-bit
#: signed integer wherever it is stored, so no larger token can name a delivery.
MAX_ATTEMPT = 2**31 - 1
LEASE_EXPIRED_MESSAGE = "lease expired: the worker neither acknowledged nor sent a heartbeat"
#: How many ended attempts a job keeps (the latest), and how much of each one's error.
MAX_ATTEMPTS_KEPT = 20
MAX_ATTEMPT_ERROR_LENGTH = 2048


class Outcome(StrEnum):
    """How an attempt ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LEASE_EXPIRED = "lease_expired"
    RELEASED = "released"  # its stream closed: not a failure
    CANCELLED = "cancelled"


class Attempt(NamedTuple):
    """One ended attempt: its number (the lease token), who ran it, when, and how it ended.
    A tuple: one is made for every attempt that ends (0.3 µs, a frozen dataclass 1 µs)."""

    number: int
    worker_id: str
    started_at: float
    ended_at: float
    outcome: str
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "worker_id": self.worker_id,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "outcome": self.outcome,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Attempt:
        """A record as a store keeps it (times as numbers, or as text where the store
        keeps them exact that way)."""
        return cls(
            number=int(record["number"]),
            worker_id=str(record["worker_id"]),
            started_at=float(record["started_at"]),
            ended_at=float(record["ended_at"]),
            outcome=str(record["outcome"]),
            error=str(record.get("error", "")),
        )


def timed_out_message(timeout: float) -> str:
    return f"timed out after {timeout:g} s"


@dataclass(slots=True)
class Job:
    id: str
    job_type: str
    payload: str
    priority: int
    delay: int
    max_retries: int
    status: JobStatus
    run_at: float
    created_at: float
    updated_at: float
    retry_count: int = 0
    attempt: int = 0
    error_message: str = ""
    started_at: float | None = None
    completed_at: float | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    #: Bumped by every move: stores write a change only over the version it was made from.
    version: int = 0
    #: At most one kept job per (job_type, idempotency_key); "" = no key.
    idempotency_key: str = ""
    #: Run time allowed per attempt, in seconds; 0 = no limit.
    timeout: float = 0.0
    #: Free-form string pairs as a JSON object text (opaque here, like the payload); "" = none.
    metadata: str = ""
    #: The JSON text the worker completed the job with; None = none.
    result: str | None = None
    #: When the running attempt times out (running jobs with a timeout).
    attempt_deadline: float | None = None
    #: The ended attempts, oldest first (the last MAX_ATTEMPTS_KEPT).
    attempts: tuple[Attempt, ...] = ()
    #: The fair-queue group within its type (ADR 0029); "" = the type's ungrouped jobs.
    group_key: str = ""

    @classmethod
    def new(cls, job_id: str, spec: JobSpec, now: float) -> Job:
        return cls(
            id=job_id,
            job_type=spec.job_type,
            payload=spec.payload,
            priority=spec.priority,
            delay=spec.delay,
            max_retries=spec.max_retries,
            status=Q,
            run_at=spec.run_at,
            created_at=now,
            updated_at=now,
            idempotency_key=spec.idempotency_key,
            timeout=spec.timeout,
            metadata=spec.metadata,
            group_key=spec.group_key,
        )

    # -- queries -----------------------------------------------------------

    def copy(self) -> Job:
        # Positional, from one C-level getter: ~7x faster than dataclasses.replace, and
        # every move write-back copies its job.
        return Job(*_every_field(self))

    def is_due(self, now: float) -> bool:
        return self.status is Q and self.run_at <= now

    def is_scheduled(self, now: float) -> bool:
        return self.status is Q and self.run_at > now

    @property
    def is_dead(self) -> bool:
        return self.status is F

    @property
    def ready_key(self) -> ReadyKey:
        return ready_key(self.priority, self.run_at, self.id)

    @property
    def lease_token(self) -> int:
        return self.attempt

    # -- moves -------------------------------------------------------------

    def start(self, worker_id: str, now: float, lease_seconds: float) -> int:
        """Lease the job to ``worker_id``; returns the new lease token."""
        self._require("start")
        if self.run_at > now:
            raise IllegalTransition(f"job {self.id} is scheduled for later and cannot start yet")
        self.status = R
        self.attempt += 1
        self.lease_owner = worker_id
        self.attempt_deadline = now + self.timeout if self.timeout else None
        self.lease_expires_at = self._lease_until(now + lease_seconds)
        self.started_at = now
        self._touch(now)
        return self.attempt

    def heartbeat(self, worker_id: str | None, token: int | None, now: float, lease_seconds: float) -> float:
        """Extend the lease (never past the attempt's deadline); returns the new deadline."""
        self._require("heartbeat")
        self._check_lease(worker_id, token, now)
        self.lease_expires_at = self._lease_until(now + lease_seconds)
        self._touch(now)
        return self.lease_expires_at

    def complete(
        self, worker_id: str | None, token: int | None, now: float, result: str | None = None
    ) -> None:
        self._require("complete")
        self._check_lease(worker_id, token, now)
        self._end_attempt(now, Outcome.COMPLETED)
        self.status = C
        self.completed_at = now
        self.error_message = ""
        self.result = result
        self._drop_lease(now)

    def fail(
        self,
        worker_id: str | None,
        token: int | None,
        now: float,
        error_message: str,
        policy: RetryPolicy,
        unit_random: float = 0.0,
        retry: bool = True,
        retry_in: float | None = None,
    ) -> bool:
        """Record a failed attempt; returns True when the job will be retried (after
        ``retry_in`` seconds when given, else after the backoff)."""
        self._require("fail")
        self._check_lease(worker_id, token, now)
        return self._record_failure(now, Outcome.FAILED, error_message, policy, unit_random, retry, retry_in)

    def expire(self, now: float, policy: RetryPolicy, unit_random: float = 0.0) -> bool:
        """The lease ran out (at the attempt's deadline: it timed out): a failed
        attempt. Returns True when it will be retried."""
        self._require("expire")
        if self.lease_expires_at is None or self.lease_expires_at > now:
            raise IllegalTransition(f"job {self.id}'s lease has not run out")
        if self.attempt_deadline is not None and self.lease_expires_at >= self.attempt_deadline:
            message, outcome = timed_out_message(self.timeout), Outcome.TIMED_OUT
        else:
            message, outcome = LEASE_EXPIRED_MESSAGE, Outcome.LEASE_EXPIRED
        return self._record_failure(now, outcome, message, policy, unit_random, True)

    def release(self, worker_id: str | None, token: int | None, now: float) -> None:
        """Hand the job back unprocessed (not a failure); it keeps its place in line."""
        self._require("release")
        self._check_lease(worker_id, token, now)
        self._end_attempt(now, Outcome.RELEASED)
        self.status = Q
        self._drop_lease(now)

    def cancel(self, now: float) -> None:
        """A queued job never runs; a running one ends its attempt as cancelled (its
        worker is told; its answer is refused)."""
        self._require("cancel")
        if self.status is R:
            self._end_attempt(now, Outcome.CANCELLED)
            self.lease_owner = None
            self.lease_expires_at = None
            self.attempt_deadline = None
        self.status = X
        self.completed_at = now  # when it ended, as for every finished job
        self._touch(now)

    def timed_out(self, now: float) -> bool:
        """The running attempt is past its deadline."""
        return self.attempt_deadline is not None and now >= self.attempt_deadline

    def requeue(self, now: float) -> None:
        """Move a dead letter back to the queue with a fresh retry budget."""
        self._require("requeue")
        self.status = Q
        self.retry_count = 0
        self.run_at = now
        self.completed_at = None
        self._touch(now)

    def run_now(self, now: float) -> None:
        """Make a job that waits for its time (scheduled, or backing off) due now."""
        self._require("run_now")
        self.run_at = min(self.run_at, now)
        self._touch(now)

    # -- internals ---------------------------------------------------------

    def _require(self, move: str) -> None:
        allowed = ALLOWED_FROM[move]
        if self.status not in allowed:
            wanted = " or ".join(sorted(s.value for s in allowed))
            raise IllegalTransition(f"cannot {move} job {self.id}: it is {self.status.value}, not {wanted}")

    def _check_lease(self, worker_id: str | None, token: int | None, now: float | None = None) -> None:
        """The answer is for the current lease; with ``now``, within the attempt's time."""
        if now is not None and self.timed_out(now):
            raise LeaseMismatch(
                f"job {self.id}'s attempt {self.attempt} {timed_out_message(self.timeout)}; "
                "its answer is no longer taken"
            )
        if token is not None and token != self.attempt:
            raise LeaseMismatch(
                f"lease token {token} of job {self.id} is stale; the current attempt is "
                f"{self.attempt}, leased to {quoted(self.lease_owner or '')}"
            )
        if worker_id is not None and worker_id != self.lease_owner:
            raise LeaseMismatch(
                f"job {self.id} is leased to {quoted(self.lease_owner or '')}, not to {quoted(worker_id)}"
            )

    def _record_failure(
        self,
        now: float,
        outcome: Outcome,
        error_message: str,
        policy: RetryPolicy,
        unit_random: float,
        retry: bool,
        retry_in: float | None = None,
    ) -> bool:
        will_retry = retry and self.retry_count < self.max_retries
        if not will_retry:
            wait = 0.0
        elif retry_in is not None:
            wait = retry_in
        else:
            wait = policy.wait(self.delay, self.retry_count, unit_random)
        self._end_attempt(now, outcome, error_message)
        self.error_message = error_message
        if will_retry:
            self.status = Q
            self.run_at = now + wait
            self.retry_count += 1
        else:
            self.status = F
            self.completed_at = now
        self._drop_lease(now)
        return will_retry

    def _drop_lease(self, now: float) -> None:
        self.lease_owner = None
        self.lease_expires_at = None
        self.attempt_deadline = None
        self._touch(now)

    def _lease_until(self, deadline: float) -> float:
        """A lease deadline, cut at the attempt's."""
        if self.attempt_deadline is not None and self.attempt_deadline < deadline:
            return self.attempt_deadline
        return deadline

    def _end_attempt(self, now: float, outcome: Outcome, error: str = "") -> None:
        ended = Attempt(
            number=self.attempt,
            worker_id=self.lease_owner or "",
            started_at=self.started_at if self.started_at is not None else now,
            ended_at=now,
            outcome=outcome.value,
            error=error[:MAX_ATTEMPT_ERROR_LENGTH],
        )
        self.attempts = (*self.attempts[-(MAX_ATTEMPTS_KEPT - 1) :], ended)

    def _touch(self, now: float) -> None:
        self.updated_at = now
        self.version += 1


_every_field = attrgetter(*(f.name for f in fields(Job)))
