"""Enqueue: validate, commit to the record, then make the jobs findable."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple, Protocol

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

    def drop(self, reservation: Reservation, job_ids: Collection[str]) -> Reservation:
        """The insert stored none of these jobs: take their reservations back."""

    def cancel(self, reservation: Reservation) -> None:
        """The insert was cancelled: take the reservations back."""

    async def withdraw(self, reservation: Reservation) -> None:
        """The insert failed, perhaps after writing: take the reservations back and
        give back whatever was written."""

    async def deliver(self, reservation: Reservation) -> None:
        """The insert committed: send the leased jobs."""


class Enqueued(NamedTuple):
    """What one enqueue request came to (a tuple: one is made per job enqueued)."""

    job_id: str
    #: The idempotency key named a job that exists: ``job_id`` is that job's, nothing
    #: was created.
    duplicate: bool
    #: The job as created (None for a duplicate).
    job: Job | None


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
        self._commit: GroupCommit[Job, Enqueued] = GroupCommit(self._write)
        self._store = store
        self._ready = ready
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._gate = gate

    async def enqueue(self, requests: Sequence[JobRequest]) -> list[Enqueued]:
        """All or nothing: one invalid request rejects the batch before anything is stored.

        When this returns, every job is committed to the store: created, or, where its
        idempotency key named a job that exists (an earlier request's, or an earlier
        one's in the same batch or commit), that job's id as a duplicate.
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

    async def _write(self, jobs: list[Job]) -> list[Enqueued]:
        """One commit for every job enqueued while the previous commit ran. Jobs a
        waiting stream can take are inserted leased to it and sent after the commit;
        the rest go to the ready queue. A job the store did not create (its idempotency
        key named another) goes to neither."""
        reservation = await self._handoff.reserve(jobs, self._clock.now())
        try:
            holders = await self._store.insert(jobs, self._policy.idempotency_seconds)
        except Exception:
            await self._handoff.withdraw(reservation)
            raise
        except BaseException:
            self._handoff.cancel(reservation)
            raise
        created = [job for job, holder in zip(jobs, holders, strict=True) if holder == job.id]
        if len(created) < len(jobs):
            reservation = self._handoff.drop(reservation, {job.id for job in jobs} - {j.id for j in created})
        self._metrics.enqueued(created)
        for job in created:
            log_state(job, "job enqueued")
        await self._handoff.deliver(reservation)
        await self._ready.offer(created, self._clock.now())  # the ones still queued
        return [
            Enqueued(holder, False, job) if holder == job.id else Enqueued(holder, True, None)
            for job, holder in zip(jobs, holders, strict=True)
        ]
