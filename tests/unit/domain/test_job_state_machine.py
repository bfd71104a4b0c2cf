"""The Job state machine: every move from every state, leases, retries and dead letters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest

from stackduck.domain.errors import IllegalTransition, LeaseMismatch
from stackduck.domain.job import ALLOWED_FROM, LEASE_EXPIRED_MESSAGE, TERMINAL, Job, JobStatus
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobSpec

Q, R, C, F, X = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)

T0 = 1_700_000_000.0  # created and due
STARTED = T0 + 10.0  # when make_job starts a job
LEASE = 30.0
NOW = T0 + 100.0  # when the move under test happens; after every lease make_job hands out
WORKER = "worker-1"
POLICY = RetryPolicy()


def spec(*, run_at: float = T0, max_retries: int = 2, delay: int = 30, priority: int = 2) -> JobSpec:
    return JobSpec(
        job_type="email.send",
        payload='{"to": "a@b.c"}',
        priority=priority,
        delay=delay,
        max_retries=max_retries,
        run_at=run_at,
    )


def make_job(
    status: JobStatus,
    *,
    run_at: float = T0,
    max_retries: int = 2,
    delay: int = 30,
    job_id: str = "0189f2a0-0000-7000-8000-000000000001",
) -> Job:
    """A valid job in ``status``, reached only through the documented moves."""
    job = Job.new(job_id, spec(run_at=run_at, max_retries=max_retries, delay=delay), now=T0)
    if status is Q:
        pass
    elif status is X:
        job.cancel(now=T0 + 1)
    else:
        job.start(WORKER, now=max(STARTED, run_at), lease_seconds=LEASE)
        if status is C:
            job.complete(WORKER, job.attempt, now=STARTED + 1)
        elif status is F:
            job.fail(WORKER, job.attempt, now=STARTED + 1, error_message="boom", policy=POLICY, retry=False)
    assert job.status is status
    return job


def snapshot(job: Job) -> dict[str, Any]:
    return asdict(job)


# Each move called with arguments that are valid for a job in the move's source state.
MOVES: dict[str, Callable[[Job], object]] = {
    "start": lambda job: job.start(WORKER, now=NOW, lease_seconds=LEASE),
    "heartbeat": lambda job: job.heartbeat(WORKER, job.attempt, now=NOW, lease_seconds=LEASE),
    "complete": lambda job: job.complete(WORKER, job.attempt, now=NOW),
    "fail": lambda job: job.fail(WORKER, job.attempt, now=NOW, error_message="boom", policy=POLICY),
    "expire": lambda job: job.expire(now=NOW, policy=POLICY),
    "release": lambda job: job.release(WORKER, job.attempt, now=NOW),
    "cancel": lambda job: job.cancel(now=NOW),
    "requeue": lambda job: job.requeue(now=NOW),
    "run_now": lambda job: job.run_now(now=NOW),
}

# The state each move leads to, as job.py's docstring draws it (fail/expire: the job has retries left).
LEADS_TO: dict[str, JobStatus] = {
    "start": R,
    "heartbeat": R,
    "complete": C,
    "fail": Q,
    "expire": Q,
    "release": Q,
    "cancel": X,
    "requeue": Q,
    "run_now": Q,
}

# The documented table itself, independent of ALLOWED_FROM, so a change to either is noticed.
DOCUMENTED_FROM: dict[str, frozenset[JobStatus]] = {
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

TABLE = [
    pytest.param(move, status, id=f"{move}-from-{status.value}")
    for move in ALLOWED_FROM
    for status in JobStatus
]


def test_allowed_from_is_the_documented_table() -> None:
    assert ALLOWED_FROM == DOCUMENTED_FROM
    assert set(MOVES) == set(ALLOWED_FROM) == set(LEADS_TO)


def test_terminal_states_allow_no_move_but_requeue_of_a_dead_letter() -> None:
    assert frozenset({C, F, X}) == TERMINAL
    leaving = {move for move, sources in ALLOWED_FROM.items() if sources & TERMINAL}
    assert leaving == {"requeue"}


@pytest.mark.parametrize(("move", "status"), TABLE)
def test_every_move_from_every_state(move: str, status: JobStatus) -> None:
    job = make_job(status)
    before = snapshot(job)

    if status in ALLOWED_FROM[move]:
        MOVES[move](job)
        assert job.status is LEADS_TO[move]
        assert job.updated_at == NOW
    else:
        with pytest.raises(IllegalTransition) as raised:
            MOVES[move](job)
        assert type(raised.value) is IllegalTransition  # the state is wrong, not the lease
        assert move in str(raised.value) and status.value in str(raised.value)
        assert snapshot(job) == before


# -- start -------------------------------------------------------------------


def test_start_refuses_a_job_that_is_not_due_yet_and_changes_nothing() -> None:
    job = make_job(Q, run_at=NOW + 60)
    before = snapshot(job)

    with pytest.raises(IllegalTransition, match="scheduled for later"):
        job.start(WORKER, now=NOW, lease_seconds=LEASE)

    assert snapshot(job) == before


def test_start_accepts_a_job_due_exactly_now() -> None:
    job = make_job(Q, run_at=NOW)
    job.start(WORKER, now=NOW, lease_seconds=LEASE)
    assert job.status is R


def test_start_leases_the_job_and_increments_the_lease_token() -> None:
    job = make_job(Q)
    assert (job.attempt, job.lease_token) == (0, 0)

    token = job.start(WORKER, now=NOW, lease_seconds=LEASE)

    assert token == job.attempt == job.lease_token == 1
    assert job.status is R
    assert job.lease_owner == WORKER
    assert job.lease_expires_at == NOW + LEASE
    assert job.started_at == NOW
    assert job.updated_at == NOW


def test_every_start_hands_out_a_new_token() -> None:
    job = make_job(Q)
    first = job.start(WORKER, now=NOW, lease_seconds=LEASE)
    job.release(WORKER, first, now=NOW + 1)

    second = job.start("worker-2", now=NOW + 2, lease_seconds=LEASE)

    assert (first, second) == (1, 2)
    assert job.lease_owner == "worker-2"
    assert job.lease_expires_at == NOW + 2 + LEASE


# -- the lease ---------------------------------------------------------------

LEASED_MOVES: dict[str, Callable[[Job, str | None, int | None], object]] = {
    "heartbeat": lambda job, worker, token: job.heartbeat(worker, token, now=NOW, lease_seconds=LEASE),
    "complete": lambda job, worker, token: job.complete(worker, token, now=NOW),
    "fail": lambda job, worker, token: job.fail(worker, token, now=NOW, error_message="boom", policy=POLICY),
    "release": lambda job, worker, token: job.release(worker, token, now=NOW),
}


def redelivered_job() -> Job:
    """A running job on its second delivery: token 1 is stale, token 2 current, leased to worker-2."""
    job = make_job(Q)
    job.start(WORKER, now=STARTED, lease_seconds=LEASE)
    job.expire(now=STARTED + LEASE, policy=POLICY)
    job.run_now(now=STARTED + LEASE + 1)
    job.start("worker-2", now=STARTED + LEASE + 1, lease_seconds=LEASE)
    assert (job.status, job.attempt, job.lease_owner) == (R, 2, "worker-2")
    return job


@pytest.mark.parametrize(
    ("worker", "token"),
    [
        pytest.param("worker-2", 1, id="stale-token"),
        pytest.param(None, 1, id="stale-token-no-worker"),
        pytest.param("worker-2", 3, id="future-token"),
        pytest.param(WORKER, 2, id="wrong-worker"),
        pytest.param(WORKER, None, id="wrong-worker-no-token"),
        pytest.param(WORKER, 1, id="old-worker-with-its-old-token"),
    ],
)
@pytest.mark.parametrize("move", list(LEASED_MOVES))
def test_a_caller_without_the_current_lease_is_refused_and_changes_nothing(
    move: str, worker: str | None, token: int | None
) -> None:
    job = redelivered_job()
    before = snapshot(job)

    with pytest.raises(LeaseMismatch):
        LEASED_MOVES[move](job, worker, token)

    assert snapshot(job) == before


@pytest.mark.parametrize(
    ("worker", "token"),
    [
        pytest.param(None, None, id="seed-client-neither"),
        pytest.param(None, 2, id="token-only"),
        pytest.param("worker-2", None, id="worker-only"),
        pytest.param("worker-2", 2, id="both"),
    ],
)
@pytest.mark.parametrize("move", list(LEASED_MOVES))
def test_the_lease_holder_or_a_caller_that_does_not_say_is_accepted(
    move: str, worker: str | None, token: int | None
) -> None:
    job = redelivered_job()

    LEASED_MOVES[move](job, worker, token)

    assert job.status is {"heartbeat": R, "complete": C, "fail": Q, "release": Q}[move]


def test_lease_mismatch_is_an_illegal_transition() -> None:
    assert issubclass(LeaseMismatch, IllegalTransition)


def test_heartbeat_extends_the_lease_from_now() -> None:
    job = make_job(R)

    deadline = job.heartbeat(WORKER, job.attempt, now=NOW, lease_seconds=45.0)

    assert deadline == job.lease_expires_at == NOW + 45.0
    assert (job.status, job.lease_owner, job.attempt, job.updated_at) == (R, WORKER, 1, NOW)


# -- complete ----------------------------------------------------------------


def test_complete_records_the_time_clears_the_lease_and_the_last_error() -> None:
    job = make_job(Q)
    job.start(WORKER, now=STARTED, lease_seconds=LEASE)
    job.fail(WORKER, 1, now=STARTED + 1, error_message="first try failed", policy=POLICY)
    job.run_now(now=NOW - 1)
    job.start(WORKER, now=NOW - 1, lease_seconds=LEASE)

    job.complete(WORKER, 2, now=NOW)

    assert job.status is C
    assert job.completed_at == NOW
    assert job.error_message == ""
    assert (job.lease_owner, job.lease_expires_at) == (None, None)
    assert job.retry_count == 1


# -- fail --------------------------------------------------------------------


def test_fail_with_retries_left_requeues_after_the_backoff() -> None:
    job = make_job(R, delay=30, max_retries=2)

    will_retry = job.fail(WORKER, job.attempt, now=NOW, error_message="smtp timeout", policy=POLICY)

    assert will_retry is True
    assert job.status is Q
    assert job.run_at == NOW + 30  # delay * 2**0
    assert job.retry_count == 1
    assert job.error_message == "smtp timeout"
    assert job.completed_at is None
    assert (job.lease_owner, job.lease_expires_at) == (None, None)
    assert job.is_scheduled(NOW) and not job.is_due(NOW)
    assert job.is_due(NOW + 30)


def test_each_retry_doubles_the_backoff_until_retries_run_out() -> None:
    job = make_job(Q, delay=10, max_retries=2)
    now = T0
    waits = []
    for _ in range(2):
        job.start(WORKER, now=now, lease_seconds=LEASE)
        assert job.fail(WORKER, job.attempt, now=now + 1, error_message="boom", policy=POLICY) is True
        waits.append(job.run_at - (now + 1))
        now = job.run_at
    job.start(WORKER, now=now, lease_seconds=LEASE)

    will_retry = job.fail(WORKER, job.attempt, now=now + 1, error_message="final", policy=POLICY)

    assert waits == [10, 20]
    assert will_retry is False
    assert job.status is F and job.is_dead
    assert job.completed_at == now + 1
    assert job.retry_count == 2
    assert job.attempt == 3
    assert job.error_message == "final"
    assert (job.lease_owner, job.lease_expires_at) == (None, None)


def test_fail_with_jitter_waits_the_stretched_backoff() -> None:
    job = make_job(R, delay=30)

    job.fail(WORKER, job.attempt, now=NOW, error_message="x", policy=RetryPolicy(jitter=0.5), unit_random=0.5)

    assert job.run_at == NOW + 30 * 1.25


def test_fail_without_retry_dead_letters_even_with_retries_left() -> None:
    job = make_job(R, max_retries=5)

    will_retry = job.fail(
        WORKER, job.attempt, now=NOW, error_message="bad payload", policy=POLICY, retry=False
    )

    assert will_retry is False
    assert job.status is F
    assert job.completed_at == NOW
    assert job.retry_count == 0
    assert job.error_message == "bad payload"
    assert (job.lease_owner, job.lease_expires_at) == (None, None)


def test_max_retries_zero_dead_letters_on_the_first_failure() -> None:
    job = make_job(R, max_retries=0)

    assert job.fail(WORKER, job.attempt, now=NOW, error_message="boom", policy=POLICY) is False

    assert job.status is F
    assert job.completed_at == NOW
    assert job.retry_count == 0


def test_fail_with_an_invalid_unit_random_raises_and_changes_nothing() -> None:
    job = make_job(R)
    before = snapshot(job)

    with pytest.raises(ValueError, match="unit_random"):
        job.fail(WORKER, job.attempt, now=NOW, error_message="boom", policy=POLICY, unit_random=1.0)

    assert snapshot(job) == before


# -- expire ------------------------------------------------------------------


def test_expire_refuses_while_the_lease_is_still_running_and_changes_nothing() -> None:
    job = make_job(R)
    assert job.lease_expires_at is not None
    before = snapshot(job)

    with pytest.raises(IllegalTransition, match="has not run out"):
        job.expire(now=job.lease_expires_at - 0.001, policy=POLICY)

    assert snapshot(job) == before


def test_expire_refuses_a_lease_just_extended_by_a_heartbeat() -> None:
    job = make_job(R)
    job.heartbeat(WORKER, job.attempt, now=NOW, lease_seconds=LEASE)
    before = snapshot(job)

    with pytest.raises(IllegalTransition):
        job.expire(now=NOW + 1, policy=POLICY)

    assert snapshot(job) == before


def test_expire_counts_as_a_failure() -> None:
    job = make_job(R, delay=30)
    assert job.lease_expires_at is not None
    deadline = job.lease_expires_at

    will_retry = job.expire(now=deadline, policy=POLICY)

    assert will_retry is True
    assert job.status is Q
    assert job.retry_count == 1
    assert job.error_message == LEASE_EXPIRED_MESSAGE
    assert job.run_at == deadline + 30
    assert (job.lease_owner, job.lease_expires_at) == (None, None)
    assert job.updated_at == deadline


def test_expire_with_no_retries_left_dead_letters() -> None:
    job = make_job(R, max_retries=0)

    assert job.expire(now=NOW, policy=POLICY) is False

    assert job.status is F
    assert job.completed_at == NOW
    assert job.error_message == LEASE_EXPIRED_MESSAGE
    assert (job.lease_owner, job.lease_expires_at) == (None, None)


# -- release -----------------------------------------------------------------


def test_release_keeps_the_place_in_line_and_the_retry_count_and_clears_the_lease() -> None:
    job = make_job(Q)
    job.start(WORKER, now=STARTED, lease_seconds=LEASE)
    job.fail(WORKER, 1, now=STARTED + 1, error_message="boom", policy=POLICY)
    run_at = job.run_at
    job.start(WORKER, now=run_at, lease_seconds=LEASE)

    job.release(WORKER, 2, now=run_at + 5)

    assert job.status is Q
    assert job.run_at == run_at
    assert job.retry_count == 1
    assert job.attempt == 2
    assert (job.lease_owner, job.lease_expires_at) == (None, None)
    assert job.completed_at is None
    assert job.updated_at == run_at + 5
    assert job.is_due(run_at + 5)


# -- cancel, requeue, run_now ------------------------------------------------


def test_cancel_a_scheduled_job() -> None:
    job = make_job(Q, run_at=NOW + 3600)

    job.cancel(now=NOW)

    assert job.status is X
    assert not job.is_scheduled(NOW) and not job.is_due(NOW + 7200)


def test_requeue_gives_a_dead_letter_a_fresh_budget_due_now() -> None:
    job = make_job(Q, max_retries=1)
    job.start(WORKER, now=STARTED, lease_seconds=LEASE)
    job.fail(WORKER, 1, now=STARTED + 1, error_message="boom", policy=POLICY)
    job.start(WORKER, now=job.run_at, lease_seconds=LEASE)
    job.fail(WORKER, 2, now=job.run_at + 1, error_message="boom again", policy=POLICY)
    assert (job.status, job.retry_count) == (F, 1)

    job.requeue(now=NOW)

    assert job.status is Q
    assert job.retry_count == 0
    assert job.run_at == NOW
    assert job.completed_at is None
    assert job.updated_at == NOW
    assert job.is_due(NOW)
    assert not job.is_dead


def test_run_now_brings_a_scheduled_job_forward() -> None:
    job = make_job(Q, run_at=NOW + 3600)

    job.run_now(now=NOW)

    assert job.run_at == NOW
    assert job.is_due(NOW)
    assert job.updated_at == NOW


def test_run_now_cuts_short_a_retry_backoff() -> None:
    job = make_job(R, delay=600)
    job.fail(WORKER, job.attempt, now=NOW, error_message="boom", policy=POLICY)
    assert job.is_scheduled(NOW + 1)

    job.run_now(now=NOW + 1)

    assert job.run_at == NOW + 1
    assert job.retry_count == 1
    assert job.error_message == "boom"


def test_run_now_never_pushes_a_due_job_back() -> None:
    job = make_job(Q, run_at=T0)

    job.run_now(now=NOW)

    assert job.run_at == T0


# -- queries -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("run_at", "due", "scheduled"),
    [
        pytest.param(NOW - 1, True, False, id="past"),
        pytest.param(NOW, True, False, id="exactly-now"),
        pytest.param(NOW + 0.001, False, True, id="future"),
    ],
)
def test_a_queued_job_is_either_due_or_scheduled(run_at: float, due: bool, scheduled: bool) -> None:
    job = make_job(Q, run_at=run_at)

    assert job.is_due(NOW) is due
    assert job.is_scheduled(NOW) is scheduled


@pytest.mark.parametrize("status", [R, C, F, X], ids=lambda s: s.value)
def test_a_job_that_is_not_queued_is_neither_due_nor_scheduled(status: JobStatus) -> None:
    job = make_job(status)

    for now in (T0 - 1000, NOW, NOW + 10**6):
        assert not job.is_due(now)
        assert not job.is_scheduled(now)
    assert job.is_dead is (status is F)


def test_copy_is_equal_and_independent() -> None:
    job = make_job(R)

    twin = job.copy()
    twin.complete(WORKER, twin.attempt, now=NOW)

    assert job.status is R and twin.status is C
