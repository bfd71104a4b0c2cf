"""Telling a worker to stop a job it holds: the job was cancelled while it ran, or its
attempt ran past its timeout. The worker's answer would be refused either way; a stop
lets it give up the work at once, and frees the job's slot in its stream."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stackduck.domain.job import Job, Outcome, timed_out_message

CANCELLED = "cancelled"
TIMED_OUT = "timed_out"
CANCELLED_MESSAGE = "cancelled while running"


@dataclass(frozen=True, slots=True)
class Stop:
    """Delivery ``lease_token`` of job ``job_id`` ended: whoever holds it lets go."""

    job_id: str
    lease_token: int
    reason: str  # CANCELLED or TIMED_OUT
    message: str  # for people: "timed out after 30 s"


def stop_of(job: Job, token: int) -> Stop | None:
    """The stop owed to whoever holds delivery ``token`` of ``job`` (as stored), if that
    attempt ended cancelled or timed out; None for any other end, or an attempt the job
    no longer keeps."""
    for attempt in reversed(job.attempts):
        if attempt.number != token:
            continue
        if attempt.outcome == Outcome.CANCELLED:
            return Stop(job.id, token, CANCELLED, CANCELLED_MESSAGE)
        if attempt.outcome == Outcome.TIMED_OUT:
            return Stop(job.id, token, TIMED_OUT, attempt.error or timed_out_message(job.timeout))
        return None
    return None


def cancel_stops(jobs: Iterable[Job]) -> list[Stop]:
    """Jobs just cancelled: stops for those that were running."""
    stops = (stop_of(job, job.attempt) for job in jobs)
    return [stop for stop in stops if stop is not None and stop.reason == CANCELLED]


def timeout_stops(jobs: Iterable[Job]) -> list[Stop]:
    """Jobs whose lease just expired: stops for those whose attempt timed out."""
    stops = (stop_of(job, job.attempt) for job in jobs)
    return [stop for stop in stops if stop is not None and stop.reason == TIMED_OUT]
