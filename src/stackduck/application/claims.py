"""Claims: lease the best ready jobs to a worker, and give back jobs that were leased
to a stream but never reached it.

Streams that claim the same job types at the same time share one claim (a round):
while one is being written, the claims that arrive wait for it to end and then go
together, each owner's slots listed in the order they came, so the stream that asked
first gets the best jobs. A lone claim goes at once; a busy server makes one storage
call where it made one per stream (ADR 0030). Limited and grouped types are claimed
one stream at a time: their claims count and take turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Collection, Sequence
from functools import partial

from stackduck.application.due_loop import DueLoop
from stackduck.application.gate import Gate
from stackduck.application.group_commit import GroupCommit
from stackduck.application.limits import Limits
from stackduck.application.moves import apply_moves, log_state
from stackduck.application.paused_types import PausedTypes
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Claimer, Clock, JobStore, Metrics, Signals
from stackduck.application.ready_path import ReadyPath
from stackduck.domain.job import Job

log = logging.getLogger(__name__)

#: Claim rounds of job-type sets no stream is claiming are let go past this many.
MAX_IDLE_ROUNDS = 256


def deal(owners: Sequence[str], leased: Sequence[Job]) -> list[Job | None]:
    """Per owner slot, in order, the job leased to that owner (each owner's jobs in the
    order leased), or None where fewer were leased than asked."""
    mine: dict[str, deque[Job]] = {}
    for job in leased:
        mine.setdefault(job.lease_owner or "", deque()).append(job)
    return [jobs.popleft() if (jobs := mine.get(owner)) else None for owner in owners]


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
        self._rounds: dict[frozenset[str], GroupCommit[str, Job | None]] = {}

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
        if not (capped or turns):
            dealt = await self._round(frozenset(wanted)).submit([worker_id] * limit)
            claimed = [job for job in dealt if job is not None]
            if claimed:
                self.delivered(claimed, self._clock.now())
            return claimed
        lease = self._policy.lease_seconds
        now = self._clock.now()
        claiming = asyncio.ensure_future(
            self._limits.claim(worker_id, wanted, capped, turns, now, lease, limit)
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
        self._metrics.claimed(limit, len(claimed))
        if claimed:
            self.delivered(claimed, now)
        return claimed

    def _round(self, job_types: frozenset[str]) -> GroupCommit[str, Job | None]:
        """The shared claims of these job types (kept while any is waiting)."""
        found = self._rounds.get(job_types)
        if found is None:
            if len(self._rounds) >= MAX_IDLE_ROUNDS:
                self._rounds = {types: kept for types, kept in self._rounds.items() if not kept.idle}
            found = self._rounds[job_types] = GroupCommit(
                partial(self._claim_round, job_types), abandoned=self._abandoned
            )
        return found

    async def _claim_round(self, job_types: frozenset[str], owners: list[str]) -> list[Job | None]:
        """One claim for every owner slot waiting: per slot, the job leased to it."""
        leased = await self._claimer.claim(owners, job_types, self._clock.now(), self._policy.lease_seconds)
        self._metrics.claimed(len(owners), len(leased))
        return deal(owners, leased)

    async def _abandoned(self, dealt: list[Job | None]) -> None:
        """Jobs claimed for a stream that left while the claim was written go back now,
        rather than wait out a lease nobody holds."""
        by_owner: dict[str, list[Job]] = {}
        for job in dealt:
            if job is not None:
                by_owner.setdefault(job.lease_owner or "", []).append(job)
        for worker_id, jobs in by_owner.items():
            await self.give_back(worker_id, jobs, "the caller left as they were claimed")

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
