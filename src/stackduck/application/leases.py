"""Expiring leases: a worker that neither acknowledges nor heartbeats loses its job.

An expired lease counts as a failed attempt: the job goes back through the retry
policy (or to the dead letters when no retries remain). A lease cut at its attempt's
deadline is a timeout: the stream holding the job is told to stop it, on whichever
instance it is (the reaper of any instance may be the one that expires it).
"""

from __future__ import annotations

import logging
from functools import partial

from stackduck.application.consumers import ConsumerRegistry
from stackduck.application.due_loop import DueLoop
from stackduck.application.moves import apply_moves
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Clock, JobStore, Metrics, Signals
from stackduck.application.ready_path import ReadyPath
from stackduck.application.stops import timeout_stops
from stackduck.domain.job import Job

log = logging.getLogger(__name__)

BATCH = 500


class LeaseReaper:
    def __init__(
        self,
        store: JobStore,
        ready: ReadyPath,
        consumers: ConsumerRegistry,
        signals: Signals,
        metrics: Metrics,
        clock: Clock,
        policy: QueuePolicy,
    ) -> None:
        self._store = store
        self._signals = signals
        self._metrics = metrics
        self._ready = ready
        self._consumers = consumers
        self._clock = clock
        self._policy = policy
        self.loop = DueLoop("lease reaper", self.expire_due, clock)

    async def expire_due(self) -> float | None:
        """Expire every lease that has run out; returns the next lease deadline."""
        now = self._clock.now()
        expired = await self._store.expired_leases(now, BATCH)
        if expired:
            policy = self._policy.retry
            outcomes = await apply_moves(
                self._store,
                [
                    (job.id, partial(Job.expire, now=now, policy=policy, unit_random=self._clock.random()))
                    for job in expired
                ],
            )
            settled = [o.job for o in outcomes if o.job is not None]
            self._signals.send_stops(timeout_stops(settled))  # before done: frees the slot and tells
            self._consumers.done(job.id for job in settled)
            self._signals.changed(job.id for job in settled)
            await self._ready.offer(settled, now)
            self._metrics.failed(settled, now)
            for job in settled:
                log.info(
                    "job %s: %s; now %s (attempt %d)",
                    job.id,
                    job.error_message,
                    job.status.value,
                    job.attempt,
                )
            if len(expired) == BATCH:
                return now
        return await self._store.next_lease_deadline()
