"""Claiming through a ready queue and a store: what a failed claim puts back is announced."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from stackduck.adapters.memory import ManualClock, MemoryJobStore, MemoryNotifier, MemoryReadyQueue
from stackduck.application.ports import QueueEntry
from stackduck.application.queue_claimer import QueueClaimer
from stackduck.domain.errors import StorageUnavailable
from stackduck.domain.job import Job, JobSpec

NOW = 1_800_000_000.0


class FailingStore(MemoryJobStore):
    """A store whose lease write fails (the record went away mid-claim)."""

    async def start(self, owners: Mapping[str, str], now: float, lease_seconds: float) -> list[Job]:
        raise StorageUnavailable("the record is away")


async def test_entries_a_failed_claim_puts_back_wake_the_streams_waiting_for_them() -> None:
    queue, notifier, store = MemoryReadyQueue(), MemoryNotifier(), FailingStore()
    job = Job.new("job-1", JobSpec("email", "{}", 2, 0, 0, NOW), NOW)
    await store.insert([job])
    await queue.push([QueueEntry.of(job)], NOW)
    waiting = notifier.listen(["email"])  # a stream parked before the claim
    other = notifier.listen(["sms"])
    claimer = QueueClaimer(queue, store, ManualClock(start=NOW), notifier)

    with pytest.raises(StorageUnavailable):
        await claimer.claim(["w"] * 10, ["email"], NOW, 30)

    assert await queue.pop(["email"], NOW, 10) == [QueueEntry.of(job)]  # back, not lost
    assert await asyncio.wait_for(waiting.wait(0.2), 1) is True  # woken, not left to its re-check
    assert await other.wait(0.05) is False


class ForgetfulStore(MemoryJobStore):
    """A store whose reads fail once leases are written (the record went away between
    the lease write and the read that follows it)."""

    reads_fail = False

    async def start(self, owners: Mapping[str, str], now: float, lease_seconds: float) -> list[Job]:
        started = await super().start(owners, now, lease_seconds)
        self.reads_fail = True
        return started

    async def get(self, job_ids: Sequence[str]) -> dict[str, Job]:
        if self.reads_fail:
            raise StorageUnavailable("the record is away")
        return await super().get(job_ids)


async def test_jobs_leased_before_a_later_read_fails_are_still_delivered() -> None:
    queue, notifier, store = MemoryReadyQueue(), MemoryNotifier(), ForgetfulStore()
    due = Job.new("job-1", JobSpec("email", "{}", 2, 0, 0, NOW), NOW)
    later = Job.new("job-2", JobSpec("email", "{}", 2, 0, 0, NOW + 60), NOW)
    await store.insert([due, later])
    # The later job's entry says due now (pushed by a clock ahead of ours): the claim
    # cannot start it and reads it back to decide where its entry goes.
    await queue.push([QueueEntry.of(due), QueueEntry("job-2", "email", 2, NOW)], NOW)
    claimer = QueueClaimer(queue, store, ManualClock(start=NOW), notifier)

    leased = await claimer.claim(["w"] * 10, ["email"], NOW, 30)

    assert [job.id for job in leased] == ["job-1"]  # not lost to the failed read
    assert [e.job_id for e in await queue.pop(["email"], NOW, 10)] == ["job-2"]  # its entry kept
