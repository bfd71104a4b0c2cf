"""Schedules on the memory adapters with a manual clock: each tick enqueues one job, two
instances' loops never fire a tick twice, downtime gives one job at most, pauses hold."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stackduck.adapters.memory import ManualClock
from stackduck.application.ids import JobIds
from stackduck.application.ports import JobQuery
from stackduck.application.schedules import REREAD_SECONDS, ScheduleRequest, Schedules
from stackduck.container import Container
from stackduck.domain.errors import InvalidJob, ScheduleNotFound
from stackduck.domain.job import Job, JobStatus
from tests.unit.application.conftest import World

START = 1_800_000_000.0  # the manual clock's start: a multiple of 60


def request(name: str = "tick", **fields: Any) -> ScheduleRequest:
    fields.setdefault("every", 60)
    return ScheduleRequest(
        name, fields.pop("job_type", "report"), fields.pop("payload", '{"n": 1}'), **fields
    )


async def jobs(world: World) -> list[Job]:
    page = await world.job_admin.list_jobs(JobQuery(job_type="report"), 1000, "", 10**9)
    return page.jobs


@pytest.fixture
def schedules(world: World, container: Container) -> Schedules:
    return container.schedules()


def another_instance(container: Container, clock: ManualClock) -> Schedules:
    """A second server's use-case on the same storage (its own ids and loop)."""
    return Schedules(
        container.schedule_store(),
        container.ready(),
        clock,
        JobIds(),
        container.policy(),
        container.gate(),
        container.metrics(),
    )


async def test_each_tick_enqueues_one_job_due_at_it_with_the_ticks_key(
    world: World, schedules: Schedules
) -> None:
    schedule, created = await schedules.put(request())
    assert created and schedule.next_due == START + 60

    world.clock.set(START + 60.004)
    await schedules.fire_due()
    world.clock.set(START + 120.01)
    await schedules.fire_due()
    await schedules.fire_due()  # nothing more is due

    found = await jobs(world)
    assert [(j.run_at, j.idempotency_key) for j in found] == [
        (START + 60, "schedule:tick:2027-01-15T08:01:00Z"),
        (START + 120, "schedule:tick:2027-01-15T08:02:00Z"),
    ]
    assert [j.payload for j in found] == ['{"n": 1}'] * 2
    [claimed] = await world.claim("report")
    assert claimed.id == found[0].id
    [stored] = await schedules.schedules()
    assert (stored.last_run, stored.next_due) == (START + 120, START + 180)


async def test_two_instances_never_fire_one_tick_twice(
    world: World, schedules: Schedules, container: Container
) -> None:
    other = another_instance(container, world.clock)
    await schedules.put(request(every=1))

    for step in range(1, 21):
        world.clock.set(START + step + 0.001)
        await asyncio.gather(schedules.fire_due(), other.fire_due())

    keys = [j.idempotency_key for j in await jobs(world)]
    assert len(keys) == len(set(keys)) == 20


@pytest.mark.parametrize(("catch_up", "count"), [(True, 1), (False, 0)])
async def test_after_downtime_at_most_one_job_then_the_next_tick(
    world: World, schedules: Schedules, catch_up: bool, count: int
) -> None:
    await schedules.put(request(catch_up=catch_up))

    world.clock.set(START + 10 * 60 + 35)  # ten ticks missed, the last 35 s ago
    await schedules.fire_due()

    found = await jobs(world)
    assert len(found) == count
    if catch_up:
        assert found[0].idempotency_key == "schedule:tick:2027-01-15T08:01:00Z"  # the first missed
    [stored] = await schedules.schedules()
    assert stored.next_due == START + 11 * 60


async def test_a_paused_schedule_fires_nothing_and_resumes_from_its_next_tick(
    world: World, schedules: Schedules
) -> None:
    await schedules.put(request())
    paused = await schedules.pause("tick")
    assert paused.paused

    world.clock.set(START + 5 * 60 + 1)
    await schedules.fire_due()
    assert await jobs(world) == []

    resumed = await schedules.resume("tick")
    assert (resumed.paused, resumed.next_due) == (False, START + 6 * 60)
    world.clock.set(START + 6 * 60)
    await schedules.fire_due()
    assert [j.run_at for j in await jobs(world)] == [START + 6 * 60]


async def test_a_fire_step_read_before_a_pause_writes_nothing(world: World, schedules: Schedules) -> None:
    """The step that read the schedule before the pause loses its compare-and-set."""
    store = schedules._store
    await schedules.put(request())
    world.clock.set(START + 61)
    [due] = await store.due(world.clock.now(), 10)

    await schedules.pause("tick")
    await schedules._fire(due, world.clock.now())

    assert await jobs(world) == []


async def test_redefining_keeps_a_missed_tick_and_the_pause(world: World, schedules: Schedules) -> None:
    await schedules.put(request())
    await schedules.pause("tick")
    world.clock.set(START + 600)

    replaced, created = await schedules.put(request(payload='{"n": 2}'))

    assert not created
    assert (replaced.paused, replaced.next_due, replaced.payload) == (True, START + 60, '{"n": 2}')


async def test_the_loop_looks_again_within_the_reread_time(world: World, schedules: Schedules) -> None:
    assert await schedules.fire_due() == START + REREAD_SECONDS  # no schedule yet
    await schedules.put(request(every=3600))
    assert await schedules.fire_due() == START + REREAD_SECONDS
    world.clock.set(START + 3600 - 0.25)
    assert await schedules.fire_due() == START + 3600


async def test_unknown_names_and_bad_requests_change_nothing(world: World, schedules: Schedules) -> None:
    for change in (schedules.pause, schedules.resume, schedules.delete):
        with pytest.raises(ScheduleNotFound, match="no schedule named 'nope'"):
            await change("nope")
    with pytest.raises(InvalidJob, match="payload must be a JSON text"):
        await schedules.put(request(payload="{oops"))
    with pytest.raises(InvalidJob, match="give cron or every, not both"):
        await schedules.put(request(cron="* * * * *"))
    with pytest.raises(InvalidJob, match="max_retries"):
        await schedules.put(request(max_retries=1000))
    assert await schedules.schedules() == []


async def test_removing_a_schedule_stops_it_and_keeps_its_jobs(world: World, schedules: Schedules) -> None:
    await schedules.put(request())
    world.clock.set(START + 60)
    await schedules.fire_due()

    await schedules.delete("tick")
    world.clock.set(START + 600)
    await schedules.fire_due()

    assert [j.status for j in await jobs(world)] == [JobStatus.QUEUED]
    assert await schedules.schedules() == []
