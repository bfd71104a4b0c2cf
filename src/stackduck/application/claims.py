"""Claims: lease the best ready jobs to a worker, and give back jobs that were leased
to a stream but never reached it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from functools import partial

from stackduck.application.due_loop import DueLoop
from stackduck.application.gate import Gate
from stackduck.application.limits import Limits
from stackduck.application.moves import apply_moves, log_state
from stackduck.application.paused_types import PausedTypes
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Claimer, Clock, JobStore, Metrics, Signals
from stackduck.application.ready_path import ReadyPath
from stackduck.domain.job import Job

log = logging.getLogger(__name__)


class Claims:
    def __init__(
        self,
        store: JobStore,
        claimer: Claimer,
        ready: ReadyPath,
        reaper: DueLoop,
        paused: PausedTypes,
        limits: Limits,
        signals: Signals,
        metrics: Metrics,
        clock: Clock,
        policy: QueuePolicy,
        gate: Gate,
    ) -> None:
        self._store = store
        self._signals = signals
        self._claimer = claimer
        self._ready = ready
        self._reaper = reaper
        self._paused = paused
        self._limits = limits
        self._metrics = metrics
        self._clock = clock
        self._policy = policy
        self._gate = gate

    async def claim(self, worker_id: str, job_types: Collection[str], limit: int) -> list[Job]:
        """Lease up to ``limit`` of the best ready jobs of ``job_types`` to the worker."""
        self._gate.check()
        paused = await self._paused.paused()
        wanted = [job_type for job_type in job_types if job_type not in paused] if paused else job_types
        if not wanted:
            return []
        limited, grouped = await self._limits.limited(), await self._limits.grouped()
        capped = [job_type for job_type in wanted if job_type in limited] if limited else []
        turns = [job_type for job_type in wanted if job_type in grouped] if grouped else []
        lease = self._policy.lease_seconds
        now = self._clock.now()
        claiming = asyncio.ensure_future(
            self._limits.claim(worker_id, wanted, capped, turns, now, lease, limit)
            if capped or turns
            else self._claimer.claim(worker_id, wanted, now, lease, limit)
        )
        try:
            claimed = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # The caller left (stream closed, deadline) while the claim was being
            # written: what it leased goes straight back, rather than waiting out a lease.
            with contextlib.suppress(Exception):
                if leased := await claiming:
                    await self.release(
                        worker_id,
                        {job.id: job.attempt for job in leased},
                        "the caller left as they were claimed",
                    )
            raise
        if claimed:
            self.delivered(claimed, now)
        return claimed

    def delivered(self, jobs: Sequence[Job], now: float) -> None:
        """Jobs leased at ``now`` are on their way to a worker: the reaper is told when
        the first of their leases ends (a timed attempt's is cut at its deadline),
        metrics, the log and their watchers hear of them."""
        lease = now + self._policy.lease_seconds
        self._reaper.poke(min(job.lease_expires_at or lease for job in jobs))
        self._metrics.delivered(jobs, now)
        self._signals.changed(job.id for job in jobs)
        for job in jobs:
            log_state(job)

    async def give_back(self, worker_id: str, jobs: Sequence[Job], why: str) -> None:
        """Jobs leased to a stream that never got them go back to the queue now (a
        compare-and-set release: a job that was never stored, or moved on, is left be).
        If storage fails, their leases expire and the reaper queues them."""
        try:
            await self.release(worker_id, {job.id: job.attempt for job in jobs}, why)
        except Exception as exc:
            log.warning(
                "%d job(s) leased to worker %s but not sent (%s) could not be given back now; "
                "they return when their leases expire: %s",
                len(jobs),
                worker_id,
                why,
                exc,
            )

    async def release(self, worker_id: str, held: dict[str, int], why: str = "its stream closed") -> None:
        """Each held job (id: the attempt it was leased under) goes back to the queue,
        unless it moved on meanwhile."""
        now = self._clock.now()
        outcomes = await apply_moves(
            self._store,
            [
                (job_id, partial(Job.release, worker_id=None, token=token, now=now))
                for job_id, token in held.items()
            ],
        )
        released = [outcome.job for outcome in outcomes if outcome.job is not None]
        self._signals.changed(job.id for job in released)
        await self._ready.offer(released, now)
        if released:
            count = len(released)
            log.info("%d unacknowledged job(s) of worker %s returned to the queue: %s", count, worker_id, why)
