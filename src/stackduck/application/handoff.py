"""Direct hand-off (ADR 0013): a job enqueued while a stream of its type is parked on
this server with room is inserted already leased to that stream and sent once the
insert commits — one write on its trip instead of a push, a wake-up, a pop and a start.

Only due, queued jobs of types neither paused, limited nor grouped go this way, and only to
streams whose last claim found nothing and that no wake-up has reached yet; everything
else takes the ready queue as before. ``assign`` picks which job goes to which stream;
``DirectHandoff`` reserves the streams' slots before the insert and sends the jobs
once it commits (or gives them back).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from stackduck.application.claims import Claims
from stackduck.application.consumers import Consumer, ConsumerRegistry
from stackduck.application.gate import Gate
from stackduck.application.limits import Limits
from stackduck.application.paused_types import PausedTypes
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Clock
from stackduck.domain.errors import StorageUnavailable
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
            and not job.group_key  # a group's job waits for its group's turn
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


class DirectHandoff:
    def __init__(
        self,
        consumers: ConsumerRegistry,
        claims: Claims,
        paused: PausedTypes,
        limits: Limits,
        clock: Clock,
        policy: QueuePolicy,
        gate: Gate,
    ) -> None:
        self._consumers = consumers
        self._claims = claims
        self._paused = paused
        self._limits = limits
        self._clock = clock
        self._policy = policy
        self._closing = gate.closed

    async def reserve(self, jobs: Sequence[Job], now: float) -> Reservation:
        """Before new jobs are inserted: lease the due ones to streams parked here with
        room (ADR 0013). They are started in place and so inserted running."""
        if not self._waiting_streams() or self._closing.is_set():
            return NOTHING
        try:
            # Read at most once a second. A limited or grouped type's jobs take the queue:
            # only a claim counts what runs against a limit, or knows whose turn it is.
            held = await self._paused.paused() | await self._limits.careful()
        except StorageUnavailable:
            return NOTHING  # the queue, and the claim's own read, decide
        parked = self._waiting_streams()  # again: the read may have let some wake or close
        assignments = assign(jobs, parked, held, now, self._policy.lease_seconds)
        for consumer, handed in assignments.items():
            self._consumers.reserve(consumer, len(handed))
        return Reservation(now, assignments) if assignments else NOTHING

    def _waiting_streams(self) -> list[Consumer]:
        """Streams parked after an empty claim, with room, not already woken for other jobs."""
        return [
            consumer
            for consumer in self._consumers.parked
            if consumer.free_slots > 0 and consumer.parked is not None and not consumer.parked.woken
        ]

    def drop(self, reservation: Reservation, job_ids: Collection[str]) -> Reservation:
        """After the insert: these jobs were not stored (their idempotency key named an
        earlier job), so they go to nobody. Their slots are free again; the reservation
        without them is what ``deliver`` sends."""
        kept: dict[Consumer, list[Job]] = {}
        for consumer, handed in reservation.assignments.items():
            stored = [job for job in handed if job.id not in job_ids]
            self._consumers.reserve(consumer, len(stored) - len(handed))
            if stored:
                kept[consumer] = stored
        return Reservation(reservation.now, kept) if kept else NOTHING

    def cancel(self, reservation: Reservation) -> None:
        """The insert failed: the promised slots are free again."""
        for consumer, handed in reservation.assignments.items():
            self._consumers.reserve(consumer, -len(handed))

    async def deliver(self, reservation: Reservation) -> None:
        """After the insert committed: each stream gets its jobs. A stream that closed
        meanwhile, a type paused meanwhile, or a server that began to stop gives them back
        to the queue."""
        if not reservation.assignments:
            return
        now = self._clock.now()
        # As read for the reservation (or since), with this server's own pauses applied;
        # not awaited, so nothing can stop a delivery between the commit and the streams.
        held = self._paused.latest() | self._limits.latest()
        unsent: list[tuple[str, list[Job]]] = []
        for consumer, handed in reservation.assignments.items():
            open_ = self._consumers.is_open(consumer) and not self._closing.is_set()
            send: list[Job] = []
            back: list[Job] = []
            for job in handed:
                sendable = open_ and job.job_type not in held
                (send if sendable else back).append(job)
            self._consumers.reserve(consumer, -len(back))
            if send:
                self._consumers.hand(consumer, send, now)
                self._claims.delivered(send, reservation.now)
            if back:
                unsent.append((consumer.worker_id, back))
        for worker_id, jobs in unsent:
            await self._claims.give_back(
                worker_id,
                jobs,
                "stream closed, type paused or limited, or server stopping as they were stored",
            )

    async def withdraw(self, reservation: Reservation) -> None:
        """The insert failed — possibly after the database committed it (a connection
        lost on the way back): the slots are free again, and any job that was written
        anyway goes back to the queue rather than wait out a lease nobody holds."""
        self.cancel(reservation)
        for consumer, handed in reservation.assignments.items():
            await self._claims.give_back(consumer.worker_id, handed, "their insert failed")
