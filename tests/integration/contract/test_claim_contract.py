"""The Claimer, ReadyQueue, Schedule and Notifier contracts, for every storage configuration."""

from __future__ import annotations

import asyncio

import pytest

from stackduck.application.ports import Change, QueueEntry
from stackduck.domain.job import JobStatus
from stackduck.domain.retry import RetryPolicy
from tests.integration.contract.conftest import NOW, Ports, PortsFactory


async def test_claims_take_priority_then_due_time_then_arrival_across_types(ports: Ports) -> None:
    jobs = await ports.add(
        ports.job("a", 3, NOW - 9),
        ports.job("b", 1, NOW - 1),
        ports.job("a", 1, NOW - 2),
        ports.job("b", 2, NOW - 5),
        ports.job("a", 2, NOW - 5),
        ports.job("c", 1, NOW - 9),
    )
    claimed = await ports.claimer.claim(["w"] * 10, ["a", "b"], NOW, 60)

    expected = [jobs[2], jobs[1], jobs[3], jobs[4], jobs[0]]
    assert [j.id for j in claimed] == [j.id for j in expected]
    assert all(j.status is JobStatus.RUNNING and j.lease_owner == "w" for j in claimed)
    assert all(j.attempt == 1 and j.lease_expires_at == NOW + 60 and j.started_at == NOW for j in claimed)
    stored = await ports.store.get([j.id for j in claimed])
    assert all(
        stored[j.id].status is JobStatus.RUNNING and stored[j.id].version == j.version for j in claimed
    )


async def test_one_claim_leases_the_best_job_to_the_first_owner_listed_and_so_on(ports: Ports) -> None:
    """One claim serves several waiting streams: the i-th best job goes to the i-th
    owner listed, an owner listed twice takes two, and owners beyond the jobs get none."""
    jobs = await ports.add(
        ports.job("t", 2, NOW - 9),
        ports.job("t", 1, NOW - 1),
        ports.job("t", 3, NOW - 20),
        ports.job("t", 1, NOW - 5),
    )
    owners = ["early", "later", "later", "last", "nobody"]
    claimed = await ports.claimer.claim(owners, ["t"], NOW, 60)

    best = [jobs[3], jobs[1], jobs[0], jobs[2]]
    assert [j.id for j in claimed] == [j.id for j in best]
    assert [j.lease_owner for j in claimed] == owners[:4]
    stored = await ports.store.get([j.id for j in best])
    assert [stored[j.id].lease_owner for j in best] == owners[:4]
    assert all(stored[j.id].status is JobStatus.RUNNING for j in best)


async def test_claims_across_deep_types_take_the_best_first_however_the_queue_is_read(ports: Ports) -> None:
    """Redis reads each type's ready set a page at a time (a share of the limit, then
    pages twice as large): the merge must still pick exactly the best jobs."""
    jobs = await ports.add(
        *(
            ports.job(t, 1 + (n * 7 + k) % 3, NOW - 100 + (n * 13) % 97)
            for t, k in (("a", 0), ("b", 1))
            for n in range(30)
        )
    )
    best = sorted(jobs, key=lambda j: j.ready_key)
    taken = []
    for limit in (25, 25, 25):
        claimed = await ports.claimer.claim(["w"] * limit, ["a", "b"], NOW, 60)
        assert {j.id for j in claimed} == {j.id for j in best[len(taken) : len(taken) + limit]}
        taken.extend(claimed)
    assert len(taken) == 60


@pytest.mark.parametrize("limit", [1, 2])  # Redis alone reads a ready set a page of `limit` at a time
async def test_a_claim_is_the_start_move_and_passes_over_stale_entries(ports: Ports, limit: int) -> None:
    gone, cancelled, wanted = await ports.add(
        ports.job(run_at=NOW - 3), ports.job(run_at=NOW - 2), ports.job()
    )
    await ports.store.delete([gone.id], {JobStatus.QUEUED})
    version = cancelled.version
    cancelled.cancel(NOW)
    assert await ports.store.apply([Change(cancelled, version)]) == [True]

    claimed = await ports.claimer.claim(["w"] * limit, ["t"], NOW, 60)

    expected = wanted.copy()
    expected.start("w", NOW, 60)
    assert claimed == [expected]
    assert (await ports.store.get([wanted.id]))[wanted.id] == expected
    assert await ports.claimer.claim(["w"] * 2, ["t"], NOW, 60) == []


async def test_an_entry_put_back_for_a_job_already_leased_is_dropped_never_delivered(ports: Ports) -> None:
    """What a check of the ready queue against the record can leave: an entry for a job
    a claim took between the record's read and the check's write. Only the record's
    compare-and-set leases, and only a queued job: the entry is passed over (I2)."""
    [job] = await ports.add(ports.job())
    [leased] = await ports.claimer.claim(["w1"] * 5, ["t"], NOW, 60)
    await ports.push([QueueEntry.of(job)], NOW)

    assert await ports.claimer.claim(["w2"] * 5, ["t"], NOW + 1, 60) == []
    assert (await ports.store.get([job.id]))[job.id] == leased
    # Queued again (its lease ran out) and re-offered, the job is delivered once, not
    # once more for the entry the check had left.
    [expired] = await ports.store.expired_leases(NOW + 60, 10)
    version = expired.version
    expired.expire(NOW + 60, RetryPolicy())
    assert await ports.store.apply([Change(expired, version)]) == [True]
    await ports.push([QueueEntry.of(expired)], NOW + 60)
    await ports.schedule.promote_due(expired.run_at)
    claimed = await ports.claimer.claim(["w3"] * 5, ["t"], expired.run_at, 60)
    assert [j.id for j in claimed] == [job.id]
    assert await ports.claimer.claim(["w4"] * 5, ["t"], expired.run_at, 60) == []


async def test_an_entry_whose_job_is_not_yet_due_waits_for_its_time(ports: Ports) -> None:
    later = ports.job(run_at=NOW + 30)
    await ports.store.insert([later])
    # Pushed as due by a clock ahead of the claimer's: the job itself is due in 30 s.
    await ports.push([QueueEntry(later.id, "t", 2, NOW - 1)], NOW)

    assert await ports.claimer.claim(["w"] * 5, ["t"], NOW, 60) == []

    assert await ports.schedule.next_due() == NOW + 30
    await ports.schedule.promote_due(NOW + 30)
    assert [job.id for job in await ports.claimer.claim(["w"] * 5, ["t"], NOW + 30, 60)] == [later.id]


async def test_claims_respect_the_limit_and_skip_what_is_not_due(ports: Ports) -> None:
    await ports.add(*(ports.job() for _ in range(3)), ports.job(run_at=NOW + 30))

    assert len(await ports.claimer.claim(["w"] * 2, ["t"], NOW, 60)) == 2
    assert len(await ports.claimer.claim(["w"] * 2, ["t"], NOW, 60)) == 1
    assert await ports.claimer.claim(["w"] * 2, ["t"], NOW, 60) == []


async def test_concurrent_claimers_never_share_a_job(make_ports: PortsFactory) -> None:
    first: Ports = await make_ports()
    others = (
        [first] if first.container.config.storage() == "memory" else [await make_ports() for _ in range(3)]
    )
    await first.add(*(first.job() for _ in range(200)))

    batches = await asyncio.gather(
        *(p.claimer.claim([f"w{n}"] * 7, ["t"], NOW, 60) for n in range(40) for p in others)
    )

    ids = [job.id for batch in batches for job in batch]
    assert len(ids) == len(set(ids)) == 200


async def test_the_schedule_reports_what_fell_due_and_what_comes_next(ports: Ports) -> None:
    await ports.schedule.promote_due(NOW)
    await ports.add(
        ports.job("a", run_at=NOW + 10), ports.job("a", run_at=NOW + 5), ports.job("b", run_at=NOW + 5)
    )

    assert await ports.schedule.next_due() == NOW + 5
    assert await ports.schedule.promote_due(NOW + 6) == {"a": 1, "b": 1}
    assert await ports.schedule.next_due() == NOW + 10
    assert await ports.schedule.promote_due(NOW + 10) == {"a": 1}
    assert await ports.schedule.next_due() is None


async def test_a_notification_wakes_a_listening_consumer(make_ports: PortsFactory) -> None:
    here: Ports = await make_ports()
    there = here if here.container.config.storage() == "memory" else await make_ports()
    if there is not here:
        # Two instances: they find each other on the channel first (ADR 0015), and on
        # meeting each asks the other to look at the queue once; then a wake-up is one.
        await asyncio.wait_for(there.notifier.listening.wait(), 5)  # type: ignore[attr-defined]
        met = there.notifier.announced(["t"])
        for _ in range(500):
            if here.notifier.peers_heard() and there.notifier.announced(["t"]) > met:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
    waiter = there.notifier.listen(["t"])
    other = there.notifier.listen(["unrelated"])

    await here.notifier.notify({"t": 1})

    assert await waiter.wait(2) is True
    assert await other.wait(0.2) is False
    waiter.close()
    other.close()


async def test_a_type_named_twice_in_one_claim_is_still_one_queue(ports: Ports) -> None:
    jobs = await ports.add(*(ports.job("a", run_at=NOW - n) for n in range(3)))
    claimed = await ports.claimer.claim(["w"] * 10, ["a", "a"], NOW, 60)
    assert sorted(j.id for j in claimed) == sorted(j.id for j in jobs)
    assert all(j.attempt == 1 for j in claimed)


async def test_a_claimed_job_with_a_timeout_gets_its_deadline_as_the_start_move_gives_it(
    ports: Ports,
) -> None:
    short, long_ = await ports.add(ports.job(timeout=3.5), ports.job(timeout=600.25))

    claimed = await ports.claimer.claim(["w"] * 2, ["t"], NOW, 60)

    expected = []
    for job in (short, long_):
        moved = job.copy()
        moved.start("w", NOW, 60)
        expected.append(moved)
    assert sorted(claimed, key=lambda j: j.id) == sorted(expected, key=lambda j: j.id)
    by_id = {j.id: j for j in claimed}
    assert by_id[short.id].lease_expires_at == by_id[short.id].attempt_deadline == NOW + 3.5
    assert by_id[long_.id].lease_expires_at == NOW + 60
    assert by_id[long_.id].attempt_deadline == NOW + 600.25
