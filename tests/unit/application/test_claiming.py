"""Claiming through a ready queue and a store: what a failed claim puts back is announced."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from stackduck.adapters.memory import ManualClock, MemoryJobStore, MemoryNotifier, MemoryReadyQueue
from stackduck.application.claiming import QueueClaimer
from stackduck.application.ports import QueueEntry
from stackduck.domain.errors import StorageUnavailable
from stackduck.domain.job import Job, JobSpec

NOW = 1_800_000_000.0


class FailingStore(MemoryJobStore):
    """A store whose lease write fails (the record went away mid-claim)."""

    async def start(
        self, job_ids: Sequence[str], worker_id: str, now: float, lease_seconds: float
    ) -> list[Job]:
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
        await claimer.claim("w", ["email"], NOW, 30, 10)

    assert await queue.pop(["email"], NOW, 10) == [QueueEntry.of(job)]  # back, not lost
    assert await asyncio.wait_for(waiting.wait(0.2), 1) is True  # woken, not left to its re-check
    assert await other.wait(0.05) is False
