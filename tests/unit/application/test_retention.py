"""Retention: finished jobs are pruned after their time; dead letters only when asked."""

from __future__ import annotations

from stackduck.adapters.memory import ManualClock
from stackduck.application.acks import Ack, Failure
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import JobQuery
from stackduck.application.retention import Retention
from stackduck.container import Container
from tests.unit.application.conftest import LEASE, World, make_world

DAY = 24 * 3600.0


async def finished_jobs(world: World) -> tuple[str, str, str]:
    done, dead, cancelled = await world.enqueue(), await world.enqueue(), await world.enqueue("other")
    await world.claim(limit=2)
    await world.acks.complete([Ack(done.id)])
    await world.acks.fail([Failure(dead.id, "x", retry=False)])
    await world.job_admin.cancel([cancelled.id])
    return done.id, dead.id, cancelled.id


async def test_completed_and_cancelled_jobs_go_after_a_day_dead_letters_stay(
    world: World, container: Container
) -> None:
    done, dead, cancelled = await finished_jobs(world)
    retention: Retention = container.retention()

    world.clock.advance(DAY - 1)
    await retention.prune_due()
    assert {j.id for j in (await world.job_admin.list_jobs(JobQuery())).jobs} == {done, dead, cancelled}

    world.clock.advance(2)
    next_look = await retention.prune_due()

    remaining = [j.id for j in (await world.job_admin.list_jobs(JobQuery())).jobs]
    assert remaining == [dead]
    assert next_look == world.clock.now() + 60


async def test_dead_letters_go_too_when_their_retention_is_set(container: Container) -> None:
    container.policy.override(QueuePolicy(lease_seconds=LEASE, dead_retention_seconds=3600))
    world = make_world(container, ManualClock())
    done, _dead, cancelled = await finished_jobs(world)

    world.clock.advance(3601)
    await container.retention().prune_due()

    assert [j.id for j in (await world.job_admin.list_jobs(JobQuery())).jobs] == [done, cancelled]
