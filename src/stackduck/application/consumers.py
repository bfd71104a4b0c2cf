"""The consumers (open ConsumeJobs streams) of this server, and the jobs each holds."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from stackduck.application.ports import Metrics, Signals, Waiter
from stackduck.application.stops import Stop
from stackduck.domain.job import Job


@dataclass(eq=False)
class Consumer:
    worker_id: str
    job_types: frozenset[str]
    max_in_flight: int
    client: str = ""  # where the stream comes from (a host)
    connected_at: float = 0.0
    last_seen: float = 0.0  # last delivery, acknowledgement or heartbeat
    held: dict[str, int] = field(default_factory=dict)  # job id → lease token
    # Direct hand-off (ADR 0013): slots promised to jobs being inserted for this stream,
    # jobs handed over but not yet sent, and the wait it is parked in after finding
    # nothing to claim (None while it is not).
    reserved: int = 0
    inbox: list[Job] = field(default_factory=list)
    parked: Waiter | None = None
    # Woken from its park by a hand-off: the notifier's count of announced wake-ups for
    # its types when it last found the queue empty, and when that was. While the count
    # has not moved, the queue holds nothing new for it: its next claim would be empty.
    quiet_since: tuple[int, float] | None = None
    # The stream asked to be told of the jobs it must stop (ConsumeJobsRequest.stop_messages);
    # the stops not yet sent; and whether what it holds must be checked against the record
    # (stops may have been lost).
    stop_messages: bool = False
    stops: list[Stop] = field(default_factory=list)
    recheck: bool = False
    # Set while the stream has something to do: room below its limit, jobs handed to it,
    # stops to send, or a check to make.
    room: asyncio.Event = field(default_factory=asyncio.Event)
    emptied: asyncio.Event = field(default_factory=asyncio.Event)  # set while holding nothing

    def __post_init__(self) -> None:
        self.room.set()
        self.emptied.set()

    @property
    def free_slots(self) -> int:
        return max(self.max_in_flight - len(self.held) - self.reserved, 0)

    def _sync_room(self) -> None:
        busy = self.free_slots > 0 or bool(self.inbox or self.stops) or self.recheck
        for event, on in ((self.room, busy), (self.emptied, not self.held)):
            if on:
                event.set()
            else:
                event.clear()


class ConsumerRegistry:
    """Who on this server holds which job, so acknowledgements make room at once, and
    stops (a held job cancelled or timed out, here or on another instance) too."""

    def __init__(self, metrics: Metrics, signals: Signals) -> None:
        self._metrics = metrics
        self._consumers: set[Consumer] = set()
        self._by_job: dict[str, Consumer] = {}
        self.none_open = asyncio.Event()  # set while no stream is open
        self.none_open.set()
        self.parked: set[Consumer] = set()  # streams waiting after a claim found nothing
        signals.on_stop(self)

    def open(
        self,
        worker_id: str,
        job_types: Collection[str],
        max_in_flight: int,
        client: str,
        now: float,
        stop_messages: bool = False,
    ) -> Consumer:
        consumer = Consumer(
            worker_id, frozenset(job_types), max_in_flight, client, now, now, stop_messages=stop_messages
        )
        self._consumers.add(consumer)
        self.none_open.clear()
        self._metrics.streams_open(len(self._consumers))
        return consumer

    def close(self, consumer: Consumer) -> dict[str, int]:
        """Forget the consumer; returns the jobs it still held (id → token)."""
        self._consumers.discard(consumer)
        self._metrics.streams_open(len(self._consumers))
        self.parked.discard(consumer)
        for job_id in consumer.held:
            if self._by_job.get(job_id) is consumer:
                del self._by_job[job_id]
        held, consumer.held = consumer.held, {}
        consumer._sync_room()  # a closed stream holds nothing: shutdown need not wait for it
        return held

    def closed(self, consumer: Consumer) -> None:
        """The stream is gone and what it held has been handed back."""
        if not self._consumers:
            self.none_open.set()

    def streams_of(self, client: str) -> int:
        return sum(1 for consumer in self._consumers if consumer.client == client)

    def seen(self, job_ids: Iterable[str], now: float) -> None:
        """The workers holding these jobs showed signs of life."""
        for job_id in job_ids:
            if (consumer := self._by_job.get(job_id)) is not None:
                consumer.last_seen = now

    def hold(self, consumer: Consumer, jobs: Iterable[Job], now: float) -> None:
        consumer.last_seen = now
        for job in jobs:
            consumer.held[job.id] = job.attempt
            self._by_job[job.id] = consumer
        consumer._sync_room()

    def is_open(self, consumer: Consumer) -> bool:
        return consumer in self._consumers

    def reserve(self, consumer: Consumer, count: int) -> None:
        """Promise ``count`` of the consumer's free slots to jobs about to be handed to it
        (``count`` < 0 takes a promise back)."""
        consumer.reserved += count
        consumer._sync_room()

    def park(self, consumer: Consumer, waiter: Waiter) -> None:
        consumer.parked = waiter
        self.parked.add(consumer)

    def unpark(self, consumer: Consumer) -> None:
        consumer.parked = None
        self.parked.discard(consumer)

    def hand(self, consumer: Consumer, jobs: list[Job], now: float) -> None:
        """Jobs leased to the consumer outside its claims: held from now, sent next."""
        consumer.reserved -= len(jobs)
        consumer.inbox.extend(jobs)
        self.hold(consumer, jobs, now)
        if consumer.parked is not None:
            consumer.parked.wake()

    def take_inbox(self, consumer: Consumer) -> list[Job]:
        jobs, consumer.inbox = consumer.inbox, []
        consumer._sync_room()
        return jobs

    def done(self, job_ids: Iterable[str], now: float | None = None) -> None:
        """These jobs left their lease (acknowledged, failed, expired, released);
        ``now`` when their worker answered."""
        for job_id in job_ids:
            consumer = self._by_job.pop(job_id, None)
            if consumer is not None:
                if now is not None:
                    consumer.last_seen = now
                consumer.held.pop(job_id, None)
                consumer._sync_room()

    def forget(self, consumer: Consumer, deliveries: dict[str, int]) -> None:
        """These deliveries (job id → lease token) of the consumer ended elsewhere; a job
        it now holds under another token is a later delivery and is kept."""
        for job_id, token in deliveries.items():
            if consumer.held.get(job_id) == token:
                del consumer.held[job_id]
                if self._by_job.get(job_id) is consumer:
                    del self._by_job[job_id]
        consumer._sync_room()

    def stopped(self, stops: Sequence[Stop]) -> None:
        """Deliveries that were cancelled or timed out: the stream holding one lets go of
        it (its slot is free) and, if it asked, is told; a delivery it no longer holds
        (answered, handed back, delivered again) is no concern of it. A job handed to it
        but not yet sent is simply not sent."""
        for stop in stops:
            consumer = self._by_job.get(stop.job_id)
            if consumer is None or consumer.held.get(stop.job_id) != stop.lease_token:
                continue
            del consumer.held[stop.job_id]
            del self._by_job[stop.job_id]
            unsent = [job for job in consumer.inbox if job.id != stop.job_id]
            if len(unsent) < len(consumer.inbox):
                consumer.inbox = unsent
            elif consumer.stop_messages:
                consumer.stops.append(stop)
                if consumer.parked is not None:
                    consumer.parked.wake()
            consumer._sync_room()

    def missed(self) -> None:
        """Stops may have been lost: every stream holding jobs checks them against the record."""
        for consumer in self._consumers:
            if consumer.held:
                consumer.recheck = True
                consumer._sync_room()
                if consumer.parked is not None:
                    consumer.parked.wake()

    def take_stops(self, consumer: Consumer) -> list[Stop]:
        stops, consumer.stops = consumer.stops, []
        consumer._sync_room()
        return stops

    @property
    def consumers(self) -> list[Consumer]:
        return list(self._consumers)
