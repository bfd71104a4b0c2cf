"""The charts' history: what an instance counts per minute, what it writes, what a chart shows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from stackduck.adapters.memory import ManualClock, MemoryJobStore
from stackduck.adapters.memory.history import MemoryHistory
from stackduck.application.history import MAX_TYPES, OTHER, History, MinuteCounts
from stackduck.application.shared_stats import SharedStats
from stackduck.domain.errors import InvalidJob, StorageUnavailable
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.rules import JobRequest, validate

START = 1_800_000_000.0  # a minute's start


def job(job_type: str, clock: ManualClock, run_at: float | None = None) -> Job:
    now = clock.now() if run_at is None else run_at
    return Job.new(str(uuid.uuid4()), validate(JobRequest(job_type, "{}"), now, 1024), now)


def ran(job_type: str, clock: ManualClock, seconds: float) -> Job:
    done = job(job_type, clock)
    done.started_at = clock.now() - seconds
    return done


def ended(job_type: str, clock: ManualClock, status: JobStatus) -> Job:
    failed = job(job_type, clock)
    failed.status = status
    return failed


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(start=START)
        self.jobs = MemoryJobStore()
        self.minutes = MemoryHistory()
        self.history = self.instance()

    def instance(self) -> History:
        """A server instance's history, on the shared storage."""
        return History(self.minutes, SharedStats(self.jobs, self.clock), self.clock)


@pytest.fixture
def world() -> World:
    return World()


async def test_a_minute_counts_enqueued_completed_retried_and_dead_with_run_time_percentiles(
    world: World,
) -> None:
    clock, history = world.clock, world.history
    clock.advance(10)
    history.enqueued([job("mail", clock) for _ in range(5)])
    history.completed([ran("mail", clock, 0.003) for _ in range(90)], clock.now())
    history.completed([ran("mail", clock, 0.4) for _ in range(9)], clock.now())
    history.completed([ran("mail", clock, 7200)], clock.now())  # past the last bound
    history.failed(
        [ended("mail", clock, JobStatus.QUEUED)] * 2 + [ended("mail", clock, JobStatus.FAILED)], clock.now()
    )
    history.delivered([job("mail", clock)], clock.now())  # not a count of its own

    chart = await history.chart(1, None)

    assert chart.step == 60 and len(chart.points) == 60 and chart.job_types == ["mail"]
    now = chart.points[-1]
    assert now.at == START
    assert (now.enqueued, now.completed, now.retried, now.dead) == (5, 100, 2, 1)
    assert now.run_percentiles == (0.005, 0.5, 0.5)  # the bounds of the 3 ms and 0.4 s buckets
    assert all(p.completed == 0 and p.run_percentiles == (None, None, None) for p in chart.points[:-1])


async def test_a_flush_writes_the_counts_once_and_samples_the_queue(world: World) -> None:
    clock, history = world.clock, world.history
    await world.jobs.insert([job("mail", clock, run_at=START - 30), job("mail", clock), job("pdf", clock)])
    await world.jobs.insert([job("mail", clock, run_at=START + 600)])  # not due: not waiting
    clock.advance(5)
    history.enqueued([job("mail", clock)])

    assert await history.flush() == START + 5 + 5
    assert await history.flush() == START + 5 + 5  # nothing new: nothing added twice

    [mail, pdf] = await world.minutes.read(int(START), int(START), None)
    assert (mail.job_type, mail.enqueued, mail.depth, mail.oldest_wait) == ("mail", 1, 2, 35.0)
    assert (pdf.job_type, pdf.enqueued, pdf.depth, pdf.oldest_wait) == ("pdf", 0, 1, 5.0)
    point = (await history.chart(1, None)).points[-1]
    assert (point.enqueued, point.depth, point.oldest_wait) == (1, 3, 35.0)
    assert (await history.chart(1, "pdf")).points[-1].depth == 1


async def test_instances_on_one_storage_add_up(world: World) -> None:
    other = world.instance()
    world.history.enqueued([job("mail", world.clock)] * 3)
    other.enqueued([job("mail", world.clock)] * 4)
    await world.history.flush()
    await other.flush()

    assert (await world.history.chart(1, "mail")).points[-1].enqueued == 7


async def test_a_failed_write_is_added_with_the_next(world: World) -> None:
    class Failing(MemoryHistory):
        fail = True

        async def add(self, minutes: Sequence[MinuteCounts]) -> None:
            if self.fail:
                raise StorageUnavailable("down")
            await super().add(minutes)

    world.minutes = Failing()
    history = world.instance()
    history.enqueued([job("mail", world.clock)] * 2)
    with pytest.raises(StorageUnavailable):
        await history.flush()
    history.enqueued([job("mail", world.clock)])
    world.minutes.fail = False
    await history.flush()

    [mail] = await world.minutes.read(int(START), int(START), "mail")
    assert mail.enqueued == 3


async def test_a_day_is_charted_ten_minutes_a_point(world: World) -> None:
    history = world.history
    history.enqueued([job("mail", world.clock)])
    await history.flush()
    world.clock.advance(3 * 3600)
    history.enqueued([job("mail", world.clock)] * 2)

    chart = await history.chart(24, "mail")

    assert chart.step == 600 and len(chart.points) == 144
    assert sum(p.enqueued for p in chart.points) == 3
    assert chart.points[-1].enqueued == 2
    with pytest.raises(InvalidJob, match="hours must be one of 1, 24"):
        await history.chart(2, None)


async def test_types_past_the_limit_in_a_minute_count_together(world: World) -> None:
    history = world.history
    history.enqueued([job(f"type-{i}", world.clock) for i in range(MAX_TYPES + 5)])

    chart = await history.chart(1, None)

    assert len(chart.job_types) == MAX_TYPES + 1 and OTHER in chart.job_types
    assert (await history.chart(1, OTHER)).points[-1].enqueued == 5
    assert chart.points[-1].enqueued == MAX_TYPES + 5
