"""ConsumeJobs streams: each one claims jobs as they become ready, parks while there
are none (a wake-up or a direct hand-off ends the wait), never holds more than its
``max_in_flight``, and gives back what it holds when it closes. A held job that is
cancelled or times out frees its slot, and a stream that asked is told (a Stop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Collection

from stackduck.application.claims import Claims
from stackduck.application.consumers import Consumer, ConsumerRegistry
from stackduck.application.gate import Gate
from stackduck.application.paused_types import PausedTypes
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Clock, JobStore, Notifier
from stackduck.application.stops import Stop, stop_of
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


class Streams:
    def __init__(
        self,
        claims: Claims,
        consumers: ConsumerRegistry,
        notifier: Notifier,
        store: JobStore,
        paused: PausedTypes,
        clock: Clock,
        policy: QueuePolicy,
        gate: Gate,
    ) -> None:
        self._claims = claims
        self._consumers = consumers
        self._notifier = notifier
        self._store = store
        self._paused = paused
        self._clock = clock
        self._policy = policy
        self._gate = gate
        self._closing = gate.closed
        gate.on_close(self._wake_all)

    async def drained(self) -> None:
        """Once the gate is closed: until every stream's jobs are answered (streams then end)."""
        for consumer in self._consumers.consumers:
            await consumer.emptied.wait()

    async def consume(
        self,
        worker_id: str,
        job_types: Collection[str],
        max_in_flight: int = 1,
        client: str = "",
        stop_messages: bool = False,
    ) -> AsyncGenerator[list[Job] | Stop, None]:
        """Yield jobs for an open stream as they become ready, never more than
        ``max_in_flight`` unacknowledged. When the caller stops iterating (the
        stream closed), the jobs it still holds go back to the queue at once.
        ``client`` names where the stream comes from, for the per-client limit. With
        ``stop_messages``, a held job that is cancelled or times out is yielded as a
        :class:`Stop` (without, its slot is freed all the same)."""
        check_consumer(worker_id, job_types, max_in_flight)
        limit = self._policy.max_streams_per_client
        if client and self._consumers.streams_of(client) >= limit:
            raise LimitExceeded(
                f"{client} already holds {limit} ConsumeJobs streams, the most one client may hold "
                "(STACKDUCK_MAX_STREAMS_PER_CLIENT); close one, or ask more of each (max_in_flight)"
            )
        consumer = self._consumers.open(
            worker_id, job_types, max_in_flight, client, self._clock.now(), stop_messages
        )
        try:
            while not self._closing.is_set():
                if consumer.stops:
                    for stop in self._consumers.take_stops(consumer):
                        yield stop
                    continue
                if consumer.recheck:  # stops may have been lost
                    consumer.recheck = False
                    await self._forget_settled(consumer)
                    continue
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
            while consumer.held or consumer.stops:  # closing: let the worker answer what it holds
                for stop in self._consumers.take_stops(consumer):
                    yield stop
                if not consumer.held:
                    break
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
                    jobs = await self._claims.claim(
                        consumer.worker_id, consumer.job_types, consumer.free_slots
                    )
                except StorageUnavailable as exc:
                    # Keep the stream: the worker is fine, storage will be back.
                    log.warning("worker %s waits for storage: %s", consumer.worker_id, exc.for_log())
                    with contextlib.suppress(TimeoutError):  # not wait_for: see DueLoop.run
                        async with asyncio.timeout(STORAGE_RETRY_SECONDS):
                            await self._closing.wait()
                    return []
                # A paused type was left out of the claim: a resume heard of later (from
                # another server, through the pause cache) may be announced before it shows.
                claimed_at, covered = now, not (consumer.job_types & self._paused.latest())
            if not jobs and not consumer.inbox:
                self._consumers.park(consumer, waiter)  # new jobs may now be handed to it
                try:
                    woken = await waiter.wait(recheck - (now - claimed_at))
                finally:
                    self._consumers.unpark(consumer)
                if woken and covered and (consumer.inbox or consumer.stops or consumer.recheck):
                    # By a hand-off or a stop, not a wake-up (after a timeout it claims).
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
        server instance) or whose lease was taken from this stream. Those that ended
        cancelled or timed out are stopped, as their stop would have done (it may have
        been lost on its way from another instance)."""
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
        stops = [
            stop
            for job_id, token in settled.items()
            if (job := stored.get(job_id)) is not None and (stop := stop_of(job, token)) is not None
        ]
        self._consumers.stopped(stops)
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
                await self._claims.release(consumer.worker_id, held)
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
