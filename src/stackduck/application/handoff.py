"""Direct hand-off (ADR 0013): a job enqueued while a stream of its type is parked on
this server with room is inserted already leased to that stream and sent once the
insert commits — one write on its trip instead of a push, a wake-up, a pop and a start.

Only due, queued jobs of types not paused go this way, and only to streams whose last
claim found nothing and that no wake-up has reached yet; everything else takes the
ready queue as before. The dispatcher (``Dispatcher.reserve`` / ``deliver`` /
``withdraw``) owns the streams; this module picks which job goes to which.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stackduck.application.consumers import Consumer
from stackduck.domain.job import Job, JobStatus


@dataclass(frozen=True)
class Reservation:
    """Which parked stream each handed job goes to; made before the insert."""

    now: float = 0.0
    assignments: dict[Consumer, list[Job]] = field(default_factory=dict)


NOTHING = Reservation()


def assign(
    jobs: Sequence[Job], parked: Iterable[Consumer], paused: frozenset[str], now: float, lease_seconds: float
) -> dict[Consumer, list[Job]]:
    """Lease the best due jobs to the parked streams, filling one stream's free slots
    before the next (fewer, fuller messages). The jobs are started in place (the
    domain's start move: they are inserted running). Linear in jobs plus streams: a
    job looks only at streams of its type, and a full stream is dropped for good."""
    waiting: dict[str, list[Consumer]] = {}  # per type, the next stream to fill last
    for consumer in reversed(list(parked)):
        for job_type in consumer.job_types:
            waiting.setdefault(job_type, []).append(consumer)
    due = sorted(
        (
            job
            for job in jobs
            if job.job_type in waiting
            and job.job_type not in paused
            and job.status is JobStatus.QUEUED
            and job.run_at <= now
        ),
        key=lambda job: job.ready_key,
    )
    given: dict[Consumer, list[Job]] = {}
    for job in due:
        streams = waiting[job.job_type]
        while streams and streams[-1].free_slots <= len(given.get(streams[-1], ())):
            streams.pop()  # full
        if streams:
            consumer = streams[-1]
            job.start(consumer.worker_id, now, lease_seconds)
            given.setdefault(consumer, []).append(job)
    return given
