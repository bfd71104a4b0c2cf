"""The ScheduleStore contract: every storage configuration keeps schedules the same way,
and fires a tick atomically, once, whoever races for it."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from stackduck.adapters.memory import MemoryJobStore
from stackduck.application.ports import JobQuery
from stackduck.application.schedules import Fire, ScheduleStore
from stackduck.container import provide
from stackduck.domain.job import Job
from stackduck.domain.rules import JobSpec
from stackduck.domain.schedule import Rule, Schedule
from tests.integration.contract.conftest import NOW, Ports, PortsFactory

WINDOW = 3600.0


async def schedules_of(ports: Ports) -> ScheduleStore:
    store: ScheduleStore = await provide(ports.container.schedule_store)
    return store


def schedule(name: str = "nightly", **fields: object) -> Schedule:
    spec = JobSpec("report", '{"k": "ü 🦆"}', 1, 45, 3, NOW, timeout=12.5, metadata='{"tenant":"acme"}')
    made = Schedule.new(name, spec, Rule.of("30 2 * * *", 0, "Europe/Berlin", NOW), True, NOW)
    return replace(made, **fields)  # type: ignore[arg-type]


def tick_job(ports: Ports, due: Schedule, **fields: object) -> Job:
    job = Job.new(ports.ids.new(NOW), due.job_spec(due.next_due, 0.0), NOW + 1)
    for name, value in fields.items():
        setattr(job, name, value)
    return job


async def reports(ports: Ports) -> list[Job]:
    return (await ports.store.list_jobs(JobQuery(job_type="report"), 100, "", 10**9)).jobs


async def test_a_schedule_comes_back_exactly_as_stored(ports: Ports) -> None:
    store = await schedules_of(ports)
    every = replace(schedule("every.1"), rule=Rule.of("", 90, "", NOW), last_run=NOW - 90.0, paused=True)
    cron = schedule("nightly", catch_up=False, group_key="tenant-7")

    assert await store.put(every, None) and await store.put(cron, None)

    assert await store.get("nightly") == cron
    assert await store.get("every.1") == every
    assert await store.get("none") is None
    assert await store.read_all() == [every, cron]


async def test_a_write_lands_only_over_the_version_it_was_made_from(ports: Ports) -> None:
    store = await schedules_of(ports)
    first = schedule()
    assert await store.put(first, None)
    assert not await store.put(replace(first, payload="{}"), None)  # the name is taken

    changed = replace(first, paused=True, version=first.version + 1)
    assert not await store.put(changed, first.version + 5)
    assert await store.put(changed, first.version)
    assert not await store.put(replace(changed, version=changed.version + 1), first.version)

    assert await store.get(first.name) == changed
    assert await store.delete(first.name)
    assert not await store.delete(first.name)
    assert await store.read_all() == []


async def test_due_and_next_due_leave_paused_schedules_out(ports: Ports) -> None:
    store = await schedules_of(ports)
    for name, next_due, paused in (("b", NOW - 5, False), ("a", NOW - 10, False), ("p", NOW - 20, True)):
        assert await store.put(schedule(name, next_due=next_due, paused=paused), None)
    assert await store.put(schedule("later", next_due=NOW + 30), None)

    assert [s.name for s in await store.due(NOW, 10)] == ["a", "b"]
    assert [s.name for s in await store.due(NOW, 1)] == ["a"]
    assert await store.next_due() == NOW - 10


async def test_a_fire_step_advances_the_schedule_and_inserts_its_job_together(ports: Ports) -> None:
    store = await schedules_of(ports)
    due = schedule(next_due=NOW)
    await store.put(due, None)
    job = tick_job(ports, due)
    advanced = due.fired(due.firing(NOW + 1), NOW + 1)

    holders = await store.fire(Fire(due.version, advanced, [job]), WINDOW)

    assert holders == [job.id]
    assert await store.get(due.name) == advanced
    [stored] = await reports(ports)
    assert (stored.id, stored.idempotency_key, stored.run_at) == (job.id, job.idempotency_key, NOW)


async def test_a_grouped_schedules_fire_step_inserts_a_job_of_its_group(ports: Ports) -> None:
    store = await schedules_of(ports)
    due = schedule(next_due=NOW, group_key="tenant-7")
    await store.put(due, None)
    job = tick_job(ports, due)
    assert job.group_key == "tenant-7"

    assert await store.fire(Fire(due.version, due.fired(due.firing(NOW + 1), NOW + 1), [job]), WINDOW)

    [stored] = await reports(ports)
    assert (stored.id, stored.group_key) == (job.id, "tenant-7")


async def test_racing_fire_steps_of_one_tick_enqueue_one_job(make_ports: PortsFactory) -> None:
    """Two instances (one, on memory) read the same version and race their fire steps,
    each with a job of its own: one step writes, the other writes nothing."""
    first: Ports = await make_ports()
    second = first if isinstance(first.store, MemoryJobStore) else await make_ports()
    stores = [await schedules_of(first), await schedules_of(second)]
    for round_ in range(10):
        due = schedule(f"race-{round_}", next_due=NOW + round_)
        await stores[0].put(due, None)
        advanced = due.fired(due.firing(NOW + round_), NOW + round_)
        steps = [Fire(due.version, advanced, [tick_job(ports, due)]) for ports in (first, second)]

        answers = await asyncio.gather(*(s.fire(step, WINDOW) for s, step in zip(stores, steps, strict=True)))

        assert sorted(answer is None for answer in answers) == [False, True]
        assert (await stores[1].get(due.name)) == advanced
    assert len(await reports(first)) == 10


async def test_a_fire_step_read_before_another_write_writes_nothing(ports: Ports) -> None:
    store = await schedules_of(ports)
    due = schedule(next_due=NOW)
    await store.put(due, None)
    paused = due.paused_at(NOW)
    assert await store.put(paused, due.version)

    stale = Fire(due.version, due.fired(due.firing(NOW), NOW), [tick_job(ports, due)])

    assert await store.fire(stale, WINDOW) is None
    assert await reports(ports) == []
    assert await store.get(due.name) == paused


async def test_a_fire_step_whose_insert_fails_leaves_the_schedule_as_it_was(ports: Ports) -> None:
    """What an instance that dies mid-step leaves: nothing (a failed insert stands for
    the death between the schedule's write and the job's)."""
    store = await schedules_of(ports)
    due = schedule(next_due=NOW)
    await store.put(due, None)
    [taken] = await ports.add(ports.job("other"))
    clash = tick_job(ports, due, id=taken.id)  # an id that exists: the insert refuses it

    with pytest.raises(Exception, match=r"exists|duplicate key"):
        await store.fire(Fire(due.version, due.fired(due.firing(NOW), NOW), [clash]), WINDOW)

    assert await store.get(due.name) == due
    assert await reports(ports) == []


async def test_the_ticks_key_keeps_a_repeated_step_to_one_job(ports: Ports) -> None:
    """The second guard: had a tick's job been stored by a step whose schedule write was
    lost, a later step for the same tick stores nothing and names that job."""
    store = await schedules_of(ports)
    due = schedule(next_due=NOW)
    await store.put(due, None)
    earlier = tick_job(ports, due)
    assert await ports.store.insert([earlier], WINDOW) == [earlier.id]

    holders = await store.fire(
        Fire(due.version, due.fired(due.firing(NOW), NOW), [tick_job(ports, due)]), WINDOW
    )

    assert holders == [earlier.id]
    assert [job.id for job in await reports(ports)] == [earlier.id]
    stored = await store.get(due.name)
    assert stored is not None and stored.version == due.version + 1


async def test_a_step_that_skips_missed_ticks_only_advances(ports: Ports) -> None:
    store = await schedules_of(ports)
    due = schedule(next_due=NOW - 86_400, catch_up=False)
    await store.put(due, None)
    firing = due.firing(NOW)
    assert firing.due is None

    assert await store.fire(Fire(due.version, due.fired(firing, NOW), []), WINDOW) == []

    stored = await store.get(due.name)
    assert stored is not None and stored.next_due == firing.next_due > NOW
    assert await reports(ports) == []
