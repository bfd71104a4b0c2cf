"""The LimitStore contract: every storage configuration keeps limits the same way, and a
limited claim never lets more start than the limit allows, whoever races for it."""

from __future__ import annotations

import asyncio

import pytest

from stackduck.application.limits import LimitStore
from stackduck.application.ports import Completion
from stackduck.container import provide
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.limits import Bucket, Limit
from tests.integration.contract.conftest import NOW, Ports, PortsFactory

LEASE = 60.0


async def limits_of(ports: Ports) -> LimitStore:
    store: LimitStore = await provide(ports.container.limit_store)
    return store


async def claim(
    ports: Ports,
    types: list[str],
    n: int,
    now: float = NOW,
    worker: str = "w",
    limited: list[str] | None = None,
) -> list[Job]:
    store = await limits_of(ports)
    claimed = await store.claim(worker, types, types if limited is None else limited, [], now, LEASE, n)
    return claimed.jobs


async def test_limits_come_back_as_stored_replaced_and_removed(ports: Ports) -> None:
    store = await limits_of(ports)
    assert await store.limits() == []
    await store.put(Limit.of("mail", concurrency=3), NOW)
    await store.put(Limit.of("api.call", rate=2.5, per=0.5, burst=4), NOW)
    assert await store.limits() == [Limit("api.call", 0, 2.5, 0.5, 4), Limit("mail", 3, 0.0, 1.0, 0)]

    await store.put(Limit.of("mail", concurrency=5, rate=10), NOW)
    assert await store.limits() == [Limit("api.call", 0, 2.5, 0.5, 4), Limit("mail", 5, 10.0, 1.0, 0)]

    assert await store.remove("mail") is True
    assert await store.remove("mail") is False
    assert await store.limits() == [Limit("api.call", 0, 2.5, 0.5, 4)]


async def test_a_concurrency_limit_caps_what_runs_in_priority_order(ports: Ports) -> None:
    store = await limits_of(ports)
    await store.put(Limit.of("mail", concurrency=2), NOW)
    low = await ports.add(ports.job("mail", priority=3, run_at=NOW - 3))
    high = await ports.add(*(ports.job("mail", priority=1, run_at=NOW - 2 + i / 10) for i in range(3)))

    first = await claim(ports, ["mail"], 10)
    assert [job.id for job in first] == [high[0].id, high[1].id]
    assert await claim(ports, ["mail"], 10) == []

    usage = {u.limit.job_type: u for u in await store.usage(NOW)}
    assert usage["mail"].running == 2 and usage["mail"].tokens is None

    done = await ports.store.complete([Completion(first[0].id, "w", first[0].attempt, NOW + 1)])
    assert done[0] is not None
    again = await claim(ports, ["mail"], 10, now=NOW + 1)
    assert [job.id for job in again] == [high[2].id]  # next in order; the low one still waits
    stored = await ports.store.get([low[0].id])
    assert stored[low[0].id].status is JobStatus.QUEUED


async def test_a_limited_type_at_its_cap_does_not_hold_back_other_types(ports: Ports) -> None:
    store = await limits_of(ports)
    await store.put(Limit.of("mail", concurrency=1), NOW)
    mail = await ports.add(*(ports.job("mail", priority=1, run_at=NOW - 5 + i) for i in range(4)))
    other = await ports.add(*(ports.job("other", priority=3, run_at=NOW - 1) for _ in range(3)))

    got = await claim(ports, ["mail", "other"], 10, limited=["mail"])
    assert sorted(job.id for job in got) == sorted([mail[0].id, *(job.id for job in other)])


async def test_jobs_running_before_the_limit_count_against_it(ports: Ports) -> None:
    jobs = await ports.add(*(ports.job("mail", run_at=NOW - 1) for _ in range(5)))
    assert len(await ports.claimer.claim(["w"] * 3, ["mail"], NOW, LEASE)) == 3  # unlimited
    store = await limits_of(ports)
    await store.put(Limit.of("mail", concurrency=4), NOW)

    assert len(await claim(ports, ["mail"], 10)) == 1
    assert await claim(ports, ["mail"], 10) == []
    assert {u.limit.job_type: u.running for u in await store.usage(NOW)} == {"mail": 4}
    assert len(jobs) == 5


async def test_a_type_whose_limit_is_gone_claims_unlimited(ports: Ports) -> None:
    await ports.add(*(ports.job("mail", run_at=NOW - 1) for _ in range(3)))
    # The caller still thought it limited (its view is up to a second old): no limit stored.
    assert len(await claim(ports, ["mail"], 10)) == 3


async def test_a_rate_limit_spends_a_bucket_that_refills_over_time(ports: Ports) -> None:
    store = await limits_of(ports)
    await store.put(Limit.of("api", rate=2, per=1.0, burst=3), NOW)
    await ports.add(*(ports.job("api", run_at=NOW - 10 + i / 100) for i in range(10)))

    limited = await store.claim("w", ["api"], ["api"], [], NOW, LEASE, 10)
    assert len(limited.jobs) == 3  # the full bucket
    assert limited.retry_at == {"api": pytest.approx(NOW + 0.5)}  # 2 tokens a second

    assert await claim(ports, ["api"], 10, now=NOW + 0.2) == []
    assert len(await claim(ports, ["api"], 10, now=NOW + 0.5)) == 1
    assert len(await claim(ports, ["api"], 10, now=NOW + 1.5)) == 2
    # Long idle: the bucket fills to its size, never beyond.
    assert len(await claim(ports, ["api"], 10, now=NOW + 100)) == 3
    usage = await store.usage(NOW + 100)
    assert usage[0].tokens == pytest.approx(0.0, abs=1e-6) and usage[0].running == 9


async def test_a_bucket_with_tokens_and_no_jobs_asks_for_no_wake_up(ports: Ports) -> None:
    store = await limits_of(ports)
    await store.put(Limit.of("api", rate=1, burst=1), NOW)
    idle = await store.claim("w", ["api"], ["api"], [], NOW, LEASE, 10)
    assert idle.jobs == [] and idle.retry_at == {}


async def test_a_replaced_limit_keeps_its_bucket_within_the_new_size(ports: Ports) -> None:
    store = await limits_of(ports)
    await store.put(Limit.of("api", rate=1, per=60.0, burst=5), NOW)
    await ports.add(*(ports.job("api", run_at=NOW - 1 - i / 100) for i in range(10)))
    assert len(await claim(ports, ["api"], 4)) == 4  # one token left

    await store.put(Limit.of("api", rate=1, per=60.0, burst=3, concurrency=100), NOW)
    assert len(await claim(ports, ["api"], 10)) == 1  # not refilled by the change
    await store.remove("api")
    await store.put(Limit.of("api", rate=1, per=60.0, burst=3), NOW)
    assert len(await claim(ports, ["api"], 10)) == 3  # a new limit starts full


async def test_racing_claims_on_two_instances_never_pass_the_limit(make_ports: PortsFactory) -> None:
    one: Ports = await make_ports()
    two: Ports = await make_ports()
    if one.container.config.storage() == "memory":
        two = one  # memory is one process: its limits hold within it
    await (await limits_of(one)).put(Limit.of("mail", concurrency=5, rate=1000, burst=7), NOW)
    await one.add(*(one.job("mail", run_at=NOW - 1 + i / 1000) for i in range(40)))

    rounds = await asyncio.gather(
        *(claim(ports, ["mail"], 3, worker=f"w{i}") for i, ports in enumerate([one, two] * 6))
    )
    ids = [job.id for jobs in rounds for job in jobs]
    assert len(ids) == len(set(ids)) == 5


def test_bucket_levels_follow_the_rate_and_stop_at_the_size() -> None:
    limit = Limit.of("api", rate=10, per=2.0, burst=4)
    assert Bucket(0.0, NOW).level(limit, NOW + 0.2) == pytest.approx(1.0)
    assert Bucket(0.0, NOW).level(limit, NOW + 100) == 4.0
    assert Bucket(2.0, NOW).level(limit, NOW - 5) == 2.0  # a clock behind adds nothing
