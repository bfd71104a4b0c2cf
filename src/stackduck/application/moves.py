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


async def apply_moves(store: JobStore, moves: Sequence[tuple[str, Move]]) -> list[Outcome]:
    """Read the jobs, run each move on its job, write back what changed.

    A move that raises leaves its job untouched; a write that loses a race with
    another writer is reported as an :class:`IllegalTransition`.
    """
    stored = await store.get([job_id for job_id, _ in moves])
    outcomes: list[Outcome] = []
    changes: list[Change] = []
    slots: list[int] = []
    for job_id, move in moves:
        job = stored.get(job_id)
        if job is None:
            outcomes.append(Outcome(None, JobNotFound(job_id)))
            continue
        version = job.version
        try:
            move(job)
        except StackduckError as exc:
            outcomes.append(Outcome(None, exc))
            continue
        # A snapshot (a later move in the batch may move the same job again), shared by
        # the outcome and the write: neither is changed after this.
        moved = job.copy()
        slots.append(len(outcomes))
        outcomes.append(Outcome(moved))
        changes.append(Change(moved, version))
    if changes:
        written = await store.apply(changes)
        for slot, ok, change in zip(slots, written, changes, strict=True):
            if ok:
                log_state(change.job)
            else:
                outcomes[slot] = Outcome(
                    None,
                    IllegalTransition(
                        f"job {change.job.id} changed while this request was handled; read it again and retry"
                    ),
                )
    return outcomes


async def complete_by_moves(store: JobStore, completions: Sequence[Completion]) -> list[Job | None]:
    """The complete move through the domain: read, move, write back with compare-and-set.
    For stores that cannot do it in one statement."""
    outcomes = await apply_moves(
        store,
        [
            (c.job_id, partial(Job.complete, worker_id=c.worker_id, token=c.token, now=c.now))
            for c in completions
        ],
    )
    return [outcome.job for outcome in outcomes]
