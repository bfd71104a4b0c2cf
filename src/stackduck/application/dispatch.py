"""Dispatch: claim ready jobs for a worker, and feed an open ConsumeJobs stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Collection, Sequence
from functools import partial

from stackduck.application.consumers import Consumer, ConsumerRegistry
from stackduck.application.gate import Gate
from stackduck.application.handoff import NOTHING, Reservation, assign
from stackduck.application.moves import apply_moves, log_state
from stackduck.application.pauses import Pauses
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Claimer, Clock, JobStore, Metrics, Notifier
from stackduck.application.ready import ReadyPath
from stackduck.application.timer import DueLoop
from stackduck.domain.errors import InvalidJob, LimitExceeded, StorageUnavailable
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.rules import validate_job_type, validate_text

log = logging.getLogger(__name__)

MAX_IN_FLIGHT_LIMIT = 1000
#: How long a stream waits before it asks unavailable storage again.
STORAGE_RETRY_SECONDS = 1.0
#: While the server stops: how often a stream asks the record about the jobs it holds.
CLOSING_RECHECK_SECONDS = 0.5


def check_consumer(worker_id: str, job_types: Collection[str], max_in_flight: int) -> None:
    if not worker_id:
        raise InvalidJob("worker_id must not be empty")
    validate_text("worker_id", worker_id)
    if not job_types:
        raise InvalidJob("job_types must name at least one job type")
    for job_type in job_types:
        validate_job_type(job_type)
    if not 1 <= max_in_flight <= MAX_IN_FLIGHT_LIMIT:
        raise InvalidJob(f"max_in_flight must be 1 to {MAX_IN_FLIGHT_LIMIT}; got {max_in_flight}")


class Dispatcher:
    def __init__(
        self,
        store: JobStore,
        claimer: Claimer,
        notifier: Notifier,
        ready: ReadyPath,
        consumers: ConsumerRegistry,
        reaper: DueLoop,
        pauses: Pauses,
        metrics: Metrics,
        clock: Clock,
        policy: QueuePolicy,
        gate: Gate,
    ) -> None:
        self._store = store
        self._pauses = pauses
        self._metrics = metrics
        self._claimer = claimer
        self._notifier = notifier
        self._ready = ready
        self._consumers = consumers
        self._reaper = reaper
        self._clock = clock
        self._policy = policy
        self._gate = gate
        self._closing = gate.closed
        gate.on_close(self._wake_all)

    async def drained(self) -> None:
        """Once the gate is closed: until every stream's jobs are answered (streams then end)."""
        for consumer in self._consumers.consumers:
            await consumer.emptied.wait()

    async def claim(self, worker_id: str, job_types: Collection[str], limit: int) -> list[Job]:
        """Lease up to ``limit`` of the best ready jobs of ``job_types`` to the worker."""
        self._gate.check()
        paused = await self._pauses.paused()
        wanted = [job_type for job_type in job_types if job_type not in paused] if paused else job_types
        if not wanted:
            return []
        lease = self._policy.lease_seconds
        now = self._clock.now()
        claiming = asyncio.ensure_future(self._claimer.claim(worker_id, wanted, now, lease, limit))
        try:
            claimed = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # The caller left (stream closed, deadline) while the claim was being
            # written: what it leased goes straight back, rather than waiting out a lease.
            with contextlib.suppress(Exception):
                if leased := await claiming:
                    await self._release(
                        worker_id,
                        {job.id: job.attempt for job in leased},
                        "the caller left as they were claimed",
                    )
            raise
        if claimed:
            self._delivered(claimed, now)
        return claimed

    def _delivered(self, jobs: Sequence[Job], now: float) -> None:
        self._reaper.poke(now + self._policy.lease_seconds)
        self._metrics.delivered(jobs, now)
        for job in jobs:
            log_state(job)

    async def reserve(self, jobs: Sequence[Job], now: float) -> Reservation:
        """Before new jobs are inserted: lease the due ones to streams parked here with
        room (ADR 0013). They are started in place and so inserted running."""
        if not self._waiting_streams() or self._closing.is_set():
            return NOTHING
        try:
            paused = await self._pauses.paused()  # read at most once a second
        except StorageUnavailable:
            return NOTHING  # the queue, and the claim's own read, decide
        parked = self._waiting_streams()  # again: the read may have let some wake or close
        assignments = assign(jobs, parked, paused, now, self._policy.lease_seconds)
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
        paused = self._pauses.latest()
        unsent: list[tuple[str, list[Job]]] = []
        for consumer, handed in reservation.assignments.items():
            open_ = self._consumers.is_open(consumer) and not self._closing.is_set()
            send: list[Job] = []
            back: list[Job] = []
            for job in handed:
                sendable = open_ and job.job_type not in paused
                (send if sendable else back).append(job)
            self._consumers.reserve(consumer, -len(back))
            if send:
                self._consumers.hand(consumer, send, now)
                self._delivered(send, reservation.now)
            if back:
                unsent.append((consumer.worker_id, back))
        for worker_id, jobs in unsent:
            await self.give_back(
                worker_id, jobs, "stream closed, type paused or server stopping as they were stored"
            )

    async def withdraw(self, reservation: Reservation) -> None:
        """The insert failed — possibly after the database committed it (a connection
        lost on the way back): the slots are free again, and any job that was written
        anyway goes back to the queue rather than wait out a lease nobody holds."""
        self.cancel(reservation)
        for consumer, handed in reservation.assignments.items():
            await self.give_back(consumer.worker_id, handed, "their insert failed")

    async def give_back(self, worker_id: str, jobs: Sequence[Job], why: str) -> None:
        """Jobs leased to a stream that never got them go back to the queue now (a
        compare-and-set release: a job that was never stored, or moved on, is left be).
        If storage fails, their leases expire and the reaper queues them."""
        try:
            await self._release(worker_id, {job.id: job.attempt for job in jobs}, why)
        except Exception as exc:
            log.warning(
                "%d job(s) leased to worker %s but not sent (%s) could not be given back now; "
                "they return when their leases expire: %s",
                len(jobs),
                worker_id,
                why,
                exc,
            )

    async def consume(
        self, worker_id: str, job_types: Collection[str], max_in_flight: int = 1, client: str = ""
    ) -> AsyncGenerator[list[Job], None]:
        """Yield jobs for an open stream as they become ready, never more than
        ``max_in_flight`` unacknowledged. When the caller stops iterating (the
        stream closed), the jobs it still holds go back to the queue at once.
        ``client`` names where the stream comes from, for the per-client limit."""
        check_consumer(worker_id, job_types, max_in_flight)
        limit = self._policy.max_streams_per_client
        if client and self._consumers.streams_of(client) >= limit:
            raise LimitExceeded(
                f"{client} already holds {limit} ConsumeJobs streams, the most one client may hold "
                "(STACKDUCK_MAX_STREAMS_PER_CLIENT); close one, or ask more of each (max_in_flight)"
            )
        consumer = self._consumers.open(worker_id, job_types, max_in_flight, client, self._clock.now())
        try:
            while not self._closing.is_set():
                if consumer.inbox:  # handed over directly, already held
                    yield self._consumers.take_inbox(consumer)
                    continue
                if not consumer.room.is_set():
                    try:
                        async with asyncio.timeout(self._policy.idle_recheck_seconds):
                            await consumer.room.wait()
                    except TimeoutError:
                        await self._forget_settled(consumer)
                    continue
                jobs = await self._next_batch(consumer)
                if jobs:
                    self._consumers.hold(consumer, jobs, self._clock.now())
                    yield jobs
            if consumer.inbox:  # handed over just before closing: the worker answers them too
                yield self._consumers.take_inbox(consumer)
            while consumer.held:  # closing: let the worker answer what it holds
                # An answer that reached another instance never empties this stream: the
                # record is asked about what it still holds, so shutdown does not wait out
                # the whole grace for it.
                try:
                    async with asyncio.timeout(CLOSING_RECHECK_SECONDS):
                        await consumer.emptied.wait()
                except TimeoutError:
                    await self._forget_settled(consumer)
            self._gate.check()  # ends the stream with "shutting down": workers reconnect elsewhere
        finally:
            await self._give_back(consumer)

    async def _next_batch(self, consumer: Consumer) -> list[Job]:
        waiter = self._notifier.listen(consumer.job_types)
        announced, now = self._notifier.announced(consumer.job_types), self._clock.now()
        recheck = self._policy.idle_recheck_seconds
        quiet, consumer.quiet_since = consumer.quiet_since, None
        try:
            if quiet is not None and quiet[0] == announced and 0 <= now - quiet[1] < recheck:
                # Handed jobs since an empty claim that looked at all its types, and no
                # job of its types was announced since: a claim would be empty, so it
                # parks again without one (and claims when the recheck comes due).
                jobs: list[Job] = []
                claimed_at, covered = quiet[1], True
            else:
                try:
                    jobs = await self.claim(consumer.worker_id, consumer.job_types, consumer.free_slots)
                except StorageUnavailable as exc:
                    # Keep the stream: the worker is fine, storage will be back.
                    log.warning("worker %s waits for storage: %s", consumer.worker_id, exc.for_log())
                    with contextlib.suppress(TimeoutError):  # not wait_for: see DueLoop.run
                        async with asyncio.timeout(STORAGE_RETRY_SECONDS):
                            await self._closing.wait()
                    return []
                # A paused type was left out of the claim: a resume heard of later (from
                # another server, through the pause cache) may be announced before it shows.
                claimed_at, covered = now, not (consumer.job_types & self._pauses.latest())
            if not jobs and not consumer.inbox:
                self._consumers.park(consumer, waiter)  # new jobs may now be handed to it
                try:
                    woken = await waiter.wait(recheck - (now - claimed_at))
                finally:
                    self._consumers.unpark(consumer)
                if woken and consumer.inbox and covered:  # by a hand-off (after a timeout it claims)
                    consumer.quiet_since = (announced, claimed_at)
            return jobs
        finally:
            waiter.close()

    def _wake_all(self) -> None:
        """Closing: every stream looks up from its wait and sees it."""
        for consumer in self._consumers.consumers:
            consumer.room.set()
        self._notifier.wake_everyone()

    async def _forget_settled(self, consumer: Consumer) -> None:
        """Drop held jobs that were answered elsewhere (e.g. an ack that reached another
        server instance) or whose lease was taken from this stream."""
        held = dict(consumer.held)  # jobs handed to it meanwhile are not judged by this read
        try:
            stored = await self._store.get(list(held))
        except StorageUnavailable:
            return
        settled = {
            job_id: token
            for job_id, token in held.items()
            if (job := stored.get(job_id)) is None
            or job.status is not JobStatus.RUNNING
            or job.attempt != token
        }
        # Only the deliveries the read judged: a job answered and delivered to this stream
        # again while the read ran is held under a new token, and stays held.
        self._consumers.forget(consumer, settled)

    async def streams_closed(self) -> None:
        """Until every stream has ended and handed back what it held."""
        await self._consumers.none_open.wait()

    async def _give_back(self, consumer: Consumer) -> None:
        held = self._consumers.close(consumer)
        try:
            if held:
                await self._release(consumer.worker_id, held)
        except StorageUnavailable as exc:
            log.warning(
                "stream of worker %s closed while storage is unavailable (%s); its %d job(s) "
                "return when their leases expire",
                consumer.worker_id,
                exc.for_log(),
                len(held),
            )
        finally:
            self._consumers.closed(consumer)

    async def _release(self, worker_id: str, held: dict[str, int], why: str = "its stream closed") -> None:
        now = self._clock.now()
        outcomes = await apply_moves(
            self._store,
            [
                (job_id, partial(Job.release, worker_id=None, token=token, now=now))
                for job_id, token in held.items()
            ],
        )
        released = [outcome.job for outcome in outcomes if outcome.job is not None]
        await self._ready.offer(released, now)
        if released:
            count = len(released)
            log.info("%d unacknowledged job(s) of worker %s returned to the queue: %s", count, worker_id, why)
