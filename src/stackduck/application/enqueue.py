"""Enqueue: validate, commit to the record, then make the jobs findable."""

from __future__ import annotations

from collections.abc import Sequence

from stackduck.application.gate import Gate
from stackduck.application.ids import JobIds
from stackduck.application.moves import log_state
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Clock, JobStore, Metrics
from stackduck.application.ready import ReadyPath
from stackduck.domain.job import Job
from stackduck.domain.rules import JobRequest, validate


class Producer:
    def __init__(
        self,
        store: JobStore,
        ready: ReadyPath,
        clock: Clock,
        ids: JobIds,
        policy: QueuePolicy,
        gate: Gate,
        metrics: Metrics,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._ready = ready
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._gate = gate

    async def enqueue(self, requests: Sequence[JobRequest]) -> list[Job]:
        """All or nothing: one invalid request rejects the batch before anything is stored.

        When this returns, every job is committed to the store.
        """
        self._gate.check()
        now = self._clock.now()
        specs = [validate(request, now, self._policy.max_payload_bytes) for request in requests]
        jobs = [Job.new(self._ids.new(now), spec, now) for spec in specs]
        await self._store.insert(jobs)
        await self._ready.offer(jobs, now)
        self._metrics.enqueued(jobs)
        for job in jobs:
            log_state(job, "job enqueued")
        return jobs
