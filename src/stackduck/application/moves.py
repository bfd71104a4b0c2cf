"""Apply domain moves to stored jobs with compare-and-set, one batch at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from stackduck.application.ports import Change, Completion, JobStore
from stackduck.domain.errors import IllegalTransition, JobNotFound, StackduckError
from stackduck.domain.job import Job

log = logging.getLogger("stackduck.jobs")


def log_state(job: Job, event: str = "job state") -> None:
    """One debug line per state change, with the job's identity as fields."""
    if log.isEnabledFor(logging.DEBUG):
        extra = {
            "job_id": job.id,
            "job_type": job.job_type,
            "state": job.status.value,
            "attempt": job.attempt,
        }
        log.debug(event, extra=extra)


Move = Callable[[Job], object]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one move: the job as stored after it, or why it was refused."""

    job: Job | None
    error: StackduckError | None = None

    def unwrap(self) -> Job:
        if self.error is not None:
            raise self.error
        assert self.job is not None
        return self.job


#: How many times a move is made again on a fresh read after losing its write to a
#: concurrent one (a heartbeat, another instance's move) before the loss is reported.
ROUNDS = 8


async def apply_moves(store: JobStore, moves: Sequence[tuple[str, Move]]) -> list[Outcome]:
    """Read the jobs, run each move on its job, write back what changed.

    A move that raises leaves its job untouched. A write that loses its compare-and-set
    to a concurrent writer is not final: the move is made again on the job as it now
    stands (the domain judges again: a heartbeat in between changes nothing for an
    answer with the same lease token, a new lease refuses it), up to :data:`ROUNDS`
    times; only then is the loss reported as an :class:`IllegalTransition`.
    """
    outcomes: list[Outcome | None] = [None] * len(moves)
    pending = list(range(len(moves)))
    for _ in range(ROUNDS):
        pending = await _move_once(store, moves, pending, outcomes)
        if not pending:
            break
    for slot in pending:
        outcomes[slot] = Outcome(
            None,
            IllegalTransition(
                f"job {moves[slot][0]} kept changing while this request was handled; read it again and retry"
            ),
        )
    return [outcome for outcome in outcomes if outcome is not None]


async def _move_once(
    store: JobStore, moves: Sequence[tuple[str, Move]], slots: list[int], outcomes: list[Outcome | None]
) -> list[int]:
    """One read, move and write for the moves at ``slots``; fills their outcomes and
    returns the slots whose write lost to a concurrent one."""
    stored = await store.get(list(dict.fromkeys(moves[slot][0] for slot in slots)))
    changes: list[Change] = []
    written_slots: list[int] = []
    for slot in slots:
        job_id, move = moves[slot]
        job = stored.get(job_id)
        if job is None:
            outcomes[slot] = Outcome(None, JobNotFound(job_id))
            continue
        version = job.version
        try:
            move(job)
        except StackduckError as exc:
            outcomes[slot] = Outcome(None, exc)
            continue
        # A snapshot (a later move in the batch may move the same job again), shared by
        # the outcome and the write: neither is changed after this.
        moved = job.copy()
        written_slots.append(slot)
        outcomes[slot] = Outcome(moved)
        changes.append(Change(moved, version))
    if not changes:
        return []
    written = await store.apply(changes)
    lost: list[int] = []
    for slot, ok, change in zip(written_slots, written, changes, strict=True):
        if ok:
            log_state(change.job)
        else:
            lost.append(slot)
    return lost


async def complete_by_moves(store: JobStore, completions: Sequence[Completion]) -> list[Job | None]:
    """The complete move through the domain: read, move, write back with compare-and-set.
    For stores that cannot do it in one statement."""
    outcomes = await apply_moves(
        store,
        [
            (
                c.job_id,
                partial(Job.complete, worker_id=c.worker_id, token=c.token, now=c.now, result=c.result),
            )
            for c in completions
        ],
    )
    return [outcome.job for outcome in outcomes]
