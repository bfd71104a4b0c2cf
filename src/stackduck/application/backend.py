"""The Backend port: one storage configuration, whole.

A storage configuration (memory, postgres, redis, redis+postgres) is one object that
provides every storage port the use-cases drive, built over the same connections,
and that opens and closes what it uses (pools, clients, background tasks). The
container picks one backend by the settings and hands its ports to the use-cases,
which never learn which it is. A feature that touches storage lands once per
backend, in the backend's own module (``stackduck.adapters.backends``), whose
docstring tells how a job is enqueued, claimed, acknowledged and woken there.
"""

from __future__ import annotations

from typing import Protocol

from stackduck.application.history import HistoryStore
from stackduck.application.limits import LimitStore
from stackduck.application.ports import (
    Claimer,
    JobStore,
    Notifier,
    PausedTypesStore,
    ReadyQueue,
    Schedule,
    Signals,
    StorageHealth,
)
from stackduck.application.schedules import ScheduleStore


class Backend(Protocol):
    @property
    def store(self) -> JobStore:
        """The record of every job."""

    @property
    def claimer(self) -> Claimer:
        """Leases the best ready jobs to a worker."""

    @property
    def queue(self) -> ReadyQueue | None:
        """The ready queue kept beside the record, which the ready path feeds; None
        where the record's own writes keep the queue."""

    @property
    def schedule(self) -> Schedule:
        """Which jobs queued for later fell due, and when the next one does."""

    @property
    def notifier(self) -> Notifier:
        """Wake-ups for the consumers of this instance and of the others."""

    @property
    def signals(self) -> Signals:
        """Stops for cancelled and timed-out deliveries, and changes of watched jobs, for
        this instance and the others."""

    @property
    def paused_types(self) -> PausedTypesStore:
        """The paused job types, shared by every instance on this storage."""

    @property
    def schedules(self) -> ScheduleStore:
        """The periodic schedules, kept where the record is, and fired atomically with
        the jobs their ticks enqueue."""

    @property
    def limits(self) -> LimitStore:
        """The concurrency and rate limits per job type, and the claims that hold them,
        shared by every instance on this storage."""

    @property
    def history(self) -> HistoryStore:
        """The charts' minutes: what every instance counted, kept where the record is."""

    @property
    def health(self) -> StorageHealth:
        """Whether each storage tier in use answers and serves."""
