"""Retention: finished jobs are kept for a while, then pruned in batches.

Completed and cancelled jobs go after ``completed_retention_seconds``; dead
letters stay until purged, or after ``dead_retention_seconds`` when that is set.
A pruned job's idempotency key stays held to the end of its window
(``idempotency_seconds`` after the job was enqueued) and is forgotten after it.
"""

from __future__ import annotations

import logging

from stackduck.application.due_loop import DueLoop
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Clock, JobStore
from stackduck.domain.job import JobStatus

log = logging.getLogger(__name__)

BATCH = 1000
#: Retention is not urgent: look once a minute, sooner while batches come back full.
EVERY_SECONDS = 60.0


class Retention:
    def __init__(self, store: JobStore, clock: Clock, policy: QueuePolicy) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self.loop = DueLoop("retention", self.prune_due, clock)

    async def prune_due(self) -> float | None:
        """Prune one batch of each kind that is due; returns when to look again."""
        now = self._clock.now()
        full = False
        kinds: list[tuple[tuple[JobStatus, ...], float]] = [
            ((JobStatus.COMPLETED, JobStatus.CANCELLED), self._policy.completed_retention_seconds)
        ]
        if self._policy.dead_retention_seconds > 0:
            kinds.append(((JobStatus.FAILED,), self._policy.dead_retention_seconds))
        for statuses, keep in kinds:
            pruned = await self._store.prune(statuses, now - keep, BATCH)
            if pruned:
                log.info("retention pruned %d %s job(s)", pruned, "/".join(s.value for s in statuses))
            full = full or pruned == BATCH
        freed = await self._store.free_keys(now, BATCH)
        if freed:
            log.info("retention freed %d idempotency key(s) of jobs gone", freed)
        full = full or freed == BATCH
        return now if full else now + EVERY_SECONDS
