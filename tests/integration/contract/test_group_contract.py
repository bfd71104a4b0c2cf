"""Fair groups: every storage configuration takes a grouped type's groups in turns within a
priority, passes over a group at its group_concurrency, and never leases a job twice."""

from __future__ import annotations

import asyncio
from functools import partial

from stackduck.application.limits import LimitStore
from stackduck.application.moves import apply_moves
from stackduck.application.ports import QueueEntry
from stackduck.container import provide
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.limits import Limit
from tests.integration.contract.conftest import NOW, Ports, PortsFactory

LEASE = 60.0
T = "tenant-work"


async def limits_of(ports: Ports) -> LimitStore:
    store: LimitStore = await provide(ports.container.limit_store)
    return store


async def claim(
    ports: Ports, n: int, at: float = 0.0, worker: str = "w", types: list[str] | None = None
) -> list[Job]:
    """A claim ``at`` seconds after NOW, the types taking turns (and counted, if limited)."""
    types = types or [T]
    claimed = await (await limits_of(ports)).claim(worker, types, types, types, NOW + at, LEASE, n)
    return claimed.jobs


async def grouped(ports: Ports, group: str, count: int, start: float, priority: int = 2) -> list[Job]:
    """``count`` jobs of ``group``, due at NOW - start, - start + 0.01, ..."""
    jobs = [
        ports.job(T, priority=priority, run_at=NOW - start + i / 100, group_key=group) for i in range(count)
    ]
    return await ports.add(*jobs)


def ids(jobs: list[Job]) -> list[str]:
    return [job.id for job in jobs]


async def test_groups_take_turns_one_job_at_a_time(ports: Ports) -> None:
    a = await grouped(ports, "a", 4, start=30)
    b = await grouped(ports, "b", 1, start=20)
    c = await grouped(ports, "c", 2, start=10)

    taken = [(await claim(ports, 1, at=i / 1000))[0].id for i in range(7)]
    assert taken == ids([a[0], b[0], c[0], a[1], c[1], a[2], a[3]])
    assert await claim(ports, 1, at=0.01) == []


async def test_a_claim_of_many_goes_round_the_groups(ports: Ports) -> None:
    a = await grouped(ports, "a", 5, start=30)
    b = await grouped(ports, "b", 2, start=20)
    c = await grouped(ports, "c", 1, start=10)

    assert sorted(ids(await claim(ports, 6))) == sorted(ids([a[0], a[1], a[2], b[0], b[1], c[0]]))
    assert sorted(ids(await claim(ports, 6, at=0.001))) == sorted(ids(a[3:]))


async def test_a_deep_group_does_not_delay_another_groups_job(ports: Ports) -> None:
    await grouped(ports, "big", 300, start=60)
    small = await grouped(ports, "small", 1, start=1)
    first = await claim(ports, 10)
    assert small[0].id in ids(first)
    assert sum(job.group_key == "big" for job in first) == 9


async def test_ungrouped_jobs_take_turns_as_one_group(ports: Ports) -> None:
    plain = await ports.add(*(ports.job(T, run_at=NOW - 50 + i) for i in range(3)))
    a = await grouped(ports, "a", 3, start=40)
    assert T in await (await limits_of(ports)).grouped()

    taken = [(await claim(ports, 1, at=i / 1000))[0].id for i in range(6)]
    assert taken == ids([plain[0], a[0], plain[1], a[1], plain[2], a[2]])


async def test_a_better_priority_goes_first_whatever_the_turns(ports: Ports) -> None:
    await grouped(ports, "a", 3, start=30, priority=3)
    urgent = await grouped(ports, "b", 1, start=1, priority=1)
    plain = await ports.add(ports.job(T, priority=2, run_at=NOW - 1))
    assert ids(await claim(ports, 2)) == ids([urgent[0], plain[0]])


async def test_a_group_job_scheduled_for_later_waits_for_its_time(ports: Ports) -> None:
    later = await ports.add(ports.job(T, run_at=NOW + 60, group_key="a"))
    assert await claim(ports, 5) == []
    await ports.schedule.promote_due(NOW + 61)  # what the scheduler does at its time
    assert ids(await claim(ports, 5, at=61)) == ids(later)


async def test_a_job_back_in_the_queue_takes_its_groups_turn_again(ports: Ports) -> None:
    [job] = await grouped(ports, "a", 1, start=5)
    [leased] = await claim(ports, 1)
    outcomes = await apply_moves(
        ports.store, [(job.id, partial(Job.release, worker_id=None, token=leased.attempt, now=NOW + 1))]
    )
    released = outcomes[0].job
    assert released is not None and released.status is JobStatus.QUEUED
    await ports.push([QueueEntry.of(released)], NOW + 1)  # what the ready path does
    again = await claim(ports, 1, at=2)
    assert ids(again) == [job.id] and again[0].attempt == 2


async def test_group_concurrency_passes_over_a_full_group(ports: Ports) -> None:
    store = await limits_of(ports)
    await store.put(Limit.of(T, group_concurrency=1), NOW)
    a = await grouped(ports, "a", 3, start=30)
    b = await grouped(ports, "b", 3, start=20)

    first = await claim(ports, 10)
    assert sorted(ids(first)) == sorted(ids([a[0], b[0]]))
    assert await claim(ports, 10, at=0.001) == []

    done = next(job for job in first if job.group_key == "a")
    await apply_moves(
        ports.store, [(done.id, partial(Job.complete, worker_id="w", token=done.attempt, now=NOW + 1))]
    )
    await store.freed(T, {"a"}, NOW + 1)
    assert ids(await claim(ports, 10, at=1.001)) == [a[1].id]
    usage = {u.limit.job_type: u for u in await store.usage(NOW + 2)}
    assert usage[T].running == 2 and usage[T].limit.group_concurrency == 1
    assert len(b) == 3


async def test_a_type_limit_and_group_turns_hold_together(ports: Ports) -> None:
    store = await limits_of(ports)
    await store.put(Limit.of(T, concurrency=3, group_concurrency=2), NOW)
    await grouped(ports, "a", 5, start=30)
    await grouped(ports, "b", 5, start=20)
    first = await claim(ports, 10)
    assert len(first) == 3
    assert sorted(job.group_key for job in first) == ["a", "a", "b"]


async def test_racing_claims_never_lease_a_job_twice_nor_pass_a_group_limit(make_ports: PortsFactory) -> None:
    one: Ports = await make_ports()
    two: Ports = await make_ports()
    if one.container.config.storage() == "memory":
        two = one  # memory is one process
    await (await limits_of(one)).put(Limit.of(T, group_concurrency=2), NOW)
    for g in range(6):
        await grouped(one, f"g{g}", 5, start=30 - g)

    rounds = await asyncio.gather(
        *(claim(ports, 3, worker=f"w{i}") for i, ports in enumerate([one, two] * 8))
    )
    taken = [job for jobs in rounds for job in jobs]
    assert len(ids(taken)) == len(set(ids(taken))) == 12  # 2 of each of the 6 groups
    per_group: dict[str, int] = {}
    for job in taken:
        per_group[job.group_key] = per_group.get(job.group_key, 0) + 1
    assert set(per_group.values()) == {2}


async def test_many_groups_each_get_their_first_job_before_any_gets_a_second(ports: Ports) -> None:
    for g in range(50):
        await grouped(ports, f"g{g:02}", 2, start=100 - g)
    taken = await claim(ports, 50)
    assert sorted(job.group_key for job in taken) == [f"g{g:02}" for g in range(50)]
