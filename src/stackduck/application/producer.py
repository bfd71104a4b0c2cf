"""Enqueue: validate, commit to the record, then make the jobs findable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stackduck.application.gate import Gate
from stackduck.application.group_commit import GroupCommit
from stackduck.application.handoff import Reservation
from stackduck.application.ids import JobIds
from stackduck.application.moves import log_state
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Clock, JobStore, Metrics
from stackduck.application.ready_path import ReadyPath
from stackduck.domain.errors import InvalidJob
from stackduck.domain.job import Job
from stackduck.domain.rules import JobRequest, JobSpec, validate


class Handoff(Protocol):
    """Streams waiting on this server, to which new jobs can go straight (ADR 0013)."""

    async def reserve(self, jobs: Sequence[Job], now: float) -> Reservation:
        """Before the insert: lease what can go straight to a waiting stream."""

    def cancel(self, reservation: Reservation) -> None:
        """The insert was cancelled: take the reservations back."""

    async def withdraw(self, reservation: Reservation) -> None:
        """The insert failed, perhaps after writing: take the reservations back and
        give back whatever was written."""

    async def deliver(self, reservation: Reservation) -> None:
        """The insert committed: send the leased jobs."""


class Producer:
    def __init__(
        self,
        store: JobStore,
        ready: ReadyPath,
        handoff: Handoff,
        clock: Clock,
        ids: JobIds,
        policy: QueuePolicy,
        gate: Gate,
        metrics: Metrics,
    ) -> None:
        self._handoff = handoff
        self._metrics = metrics
        self._commit: GroupCommit[Job, Job] = GroupCommit(self._write)
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
        specs = [self._validate(i, request, now, len(requests)) for i, request in enumerate(requests)]
        ids = self._ids.new_many(now, len(specs))
        jobs = [Job.new(job_id, spec, now) for job_id, spec in zip(ids, specs, strict=True)]
        return await self._commit.submit(jobs)

    def _validate(self, index: int, request: JobRequest, now: float, count: int) -> JobSpec:
        try:
            return validate(request, now, self._policy.max_payload_bytes, self._policy.job_timeout_seconds)
        except InvalidJob as exc:
            if count == 1:
                raise
            raise type(exc)(f"job {index} of the batch: {exc}") from exc

    async def _write(self, jobs: list[Job]) -> list[Job]:
        """One commit for every job enqueued while the previous commit ran. Jobs a
        waiting stream can take are inserted leased to it and sent after the commit;
        the rest go to the ready queue."""
        reservation = await self._handoff.reserve(jobs, self._clock.now())
        try:
            await self._store.insert(jobs)
        except Exception:
            await self._handoff.withdraw(reservation)
            raise
        except BaseException:
            self._handoff.cancel(reservation)
            raise
        self._metrics.enqueued(jobs)
        for job in jobs:
            log_state(job, "job enqueued")
        await self._handoff.deliver(reservation)
        await self._ready.offer(jobs, self._clock.now())  # the ones still queued
        return jobs
