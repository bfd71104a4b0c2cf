"""Stops: which ended deliveries are owed one, who holds them, and how a stream sends
them (the memory configuration, driven directly, with a manual clock)."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from stackduck.adapters.memory import ManualClock, MemorySignals
from stackduck.adapters.prometheus import PrometheusMetrics
from stackduck.application.consumers import ConsumerRegistry
from stackduck.application.moves import apply_moves
from stackduck.application.policy import QueuePolicy
from stackduck.application.stops import CANCELLED, TIMED_OUT, Stop, cancel_stops, stop_of, timeout_stops
from stackduck.container import Container
from stackduck.domain.job import Job
from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import JobRequest, validate
from tests.unit.application.conftest import LEASE, World, make_world

NOW = 1_800_000_000.0
POLICY = RetryPolicy()


def job(timeout: float = 0.0) -> Job:
    spec = validate(JobRequest("t", "{}", timeout=timeout), NOW, 1024)
    return Job.new("0199aaaa-7d1e-7000-8000-000000000001", spec, NOW)


def test_a_job_cancelled_while_running_owes_its_delivery_a_stop() -> None:
    cancelled = job()
    token = cancelled.start("w", NOW, LEASE)
    cancelled.cancel(NOW + 1)

    assert stop_of(cancelled, token) == Stop(cancelled.id, token, CANCELLED, "cancelled while running")
    assert cancel_stops([cancelled]) == [stop_of(cancelled, token)]
    assert timeout_stops([cancelled]) == []


def test_a_timed_out_attempt_owes_a_stop_that_says_after_how_long() -> None:
    timed = job(timeout=30)
    token = timed.start("w", NOW, LEASE)
    timed.expire(NOW + 30, POLICY)

    assert stop_of(timed, token) == Stop(timed.id, token, TIMED_OUT, "timed out after 30 s")
    assert timeout_stops([timed]) == [stop_of(timed, token)]
    assert cancel_stops([timed]) == []


@pytest.mark.parametrize("end", ["lease_expired", "completed", "failed", "released"])
def test_other_ends_owe_no_stop(end: str) -> None:
    ended = job()
    token = ended.start("w", NOW, LEASE)
    if end == "lease_expired":
        ended.expire(NOW + LEASE, POLICY)
    elif end == "completed":
        ended.complete("w", token, NOW + 1)
    elif end == "failed":
        ended.fail("w", token, NOW + 1, "boom", POLICY)
    else:
        ended.release("w", token, NOW + 1)

    assert stop_of(ended, token) is None
    assert cancel_stops([ended]) == timeout_stops([ended]) == []


def test_a_queued_job_cancelled_after_a_timed_out_attempt_owes_no_new_stop() -> None:
    """Its last attempt timed out (and was stopped then); the cancel stops nothing."""
    retried = job(timeout=30)
    token = retried.start("w", NOW, LEASE)
    retried.expire(NOW + 30, POLICY)
    retried.cancel(NOW + 31)

    assert cancel_stops([retried]) == []
    assert stop_of(retried, token) is not None  # the timed-out delivery's, as before
    assert stop_of(retried, token + 1) is None  # a delivery that never was


# -- the registry --------------------------------------------------------------------------


def registry() -> ConsumerRegistry:
    return ConsumerRegistry(PrometheusMetrics(), MemorySignals())


def test_a_stop_frees_the_slot_and_is_queued_only_for_a_stream_that_asked() -> None:
    consumers = registry()
    asked = consumers.open("w1", ["t"], 1, "", NOW, stop_messages=True)
    legacy = consumers.open("w2", ["t"], 1, "", NOW)
    first, second = job(), job()
    second.id = "other"
    first.start("w1", NOW, LEASE)
    second.start("w2", NOW, LEASE)
    consumers.hold(asked, [first], NOW)
    consumers.hold(legacy, [second], NOW)
    assert not asked.room.is_set() and not legacy.room.is_set()

    stops = [Stop(first.id, 1, CANCELLED, "x"), Stop(second.id, 1, CANCELLED, "x")]
    consumers.stopped(stops)

    assert (asked.held, legacy.held) == ({}, {})
    assert asked.room.is_set() and legacy.room.is_set()
    assert consumers.take_stops(asked) == stops[:1]
    assert consumers.take_stops(legacy) == []


def test_a_stop_for_a_delivery_no_longer_held_is_dropped() -> None:
    consumers = registry()
    consumer = consumers.open("w1", ["t"], 2, "", NOW, stop_messages=True)
    held = job()
    held.start("w1", NOW, LEASE)
    consumers.hold(consumer, [held], NOW)

    consumers.stopped([Stop(held.id, 2, CANCELLED, "a later delivery's")])
    consumers.stopped([Stop("answered-already", 1, CANCELLED, "x")])

    assert consumer.held == {held.id: 1} and consumer.stops == []


def test_a_stop_for_a_job_handed_but_not_yet_sent_drops_it_unsent() -> None:
    consumers = registry()
    consumer = consumers.open("w1", ["t"], 1, "", NOW, stop_messages=True)
    handed = job()
    handed.start("w1", NOW, LEASE)
    consumers.reserve(consumer, 1)
    consumers.hand(consumer, [handed], NOW)

    consumers.stopped([Stop(handed.id, 1, CANCELLED, "x")])

    assert (consumer.inbox, consumer.held, consumer.stops) == ([], {}, [])


# -- streams --------------------------------------------------------------------------------


async def test_a_stream_that_asked_yields_a_stop_for_its_cancelled_job_then_the_next(world: World) -> None:
    first, second = await world.enqueue(), await world.enqueue()
    async with aclosing(world.streams.consume("w", ["email"], stop_messages=True)) as stream:
        assert [j.id for j in await anext(stream)] == [first.id]  # type: ignore[union-attr]
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.01)
        assert not waiting.done()

        await world.job_admin.cancel([first.id])

        assert await asyncio.wait_for(waiting, 1) == Stop(first.id, 1, CANCELLED, "cancelled while running")
        assert [j.id for j in await asyncio.wait_for(anext(stream), 1)] == [second.id]  # type: ignore[union-attr]


async def test_a_parked_stream_is_woken_to_send_a_stop(world: World) -> None:
    held = await world.enqueue()
    async with aclosing(world.streams.consume("w", ["email"], max_in_flight=2, stop_messages=True)) as stream:
        await anext(stream)
        waiting = asyncio.ensure_future(anext(stream))  # room left, nothing to claim: parked
        await asyncio.sleep(0.01)

        await world.job_admin.cancel([held.id])

        assert isinstance(await asyncio.wait_for(waiting, 1), Stop)


async def test_a_timed_out_job_is_stopped_by_the_reaper(world: World) -> None:
    timed = await world.enqueue(timeout=10.0)
    async with aclosing(world.streams.consume("w", ["email"], stop_messages=True)) as stream:
        await anext(stream)
        waiting = asyncio.ensure_future(anext(stream))

        await world.advance(10)

        assert await asyncio.wait_for(waiting, 1) == Stop(timed.id, 1, TIMED_OUT, "timed out after 10 s")


async def test_a_lost_stop_is_made_good_by_the_recheck(container: Container) -> None:
    """Cancelled where no signal reached this stream (another instance, a lost message):
    the idle re-check reads the record, frees the slot and sends the stop."""
    container.policy.override(QueuePolicy(lease_seconds=LEASE, idle_recheck_seconds=0.05))
    world = make_world(container, ManualClock())
    first = await world.enqueue()
    async with aclosing(world.streams.consume("w", ["email"], stop_messages=True)) as stream:
        await anext(stream)
        now = world.clock.now()
        [cancelled] = await apply_moves(container.store(), [(first.id, lambda job: Job.cancel(job, now))])
        assert cancelled.error is None

        assert await asyncio.wait_for(anext(stream), 1) == Stop(
            first.id, 1, CANCELLED, "cancelled while running"
        )


async def test_stops_possibly_lost_make_every_holding_stream_check(container: Container) -> None:
    """After the link to the other instances drops, streams re-read what they hold."""
    world = make_world(container, ManualClock())
    first = await world.enqueue()
    async with aclosing(world.streams.consume("w", ["email"], stop_messages=True)) as stream:
        await anext(stream)
        waiting = asyncio.ensure_future(anext(stream))
        now = world.clock.now()
        await apply_moves(container.store(), [(first.id, lambda job: Job.cancel(job, now))])
        await asyncio.sleep(0.01)
        assert not waiting.done()  # nobody said

        container.signals().missed()

        assert await asyncio.wait_for(waiting, 1) == Stop(first.id, 1, CANCELLED, "cancelled while running")
