"""Wake-ups between instances over LISTEN/NOTIFY, whatever the job types' names: NOTIFY
carries less than 8,000 bytes, so a long list of wake-ups goes as several notifications."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.container import build_container, close_resources, provide
from stackduck.settings import Settings


@pytest.fixture
async def instances(postgres: str) -> AsyncIterator[tuple[BroadcastNotifier, BroadcastNotifier]]:
    """Two server instances' notifiers on one database, each aware of the other."""
    containers = [build_container(Settings(DATABASE_URL=postgres, REDIS_URL=None)) for _ in range(2)]
    notifiers = []
    for container in containers:
        notifier = await provide(container.notifier)
        assert isinstance(notifier, BroadcastNotifier)
        await asyncio.wait_for(notifier.listening.wait(), 10)
        notifiers.append(notifier)
    for _ in range(500):
        if all(n.peers_heard() for n in notifiers):
            break
        await asyncio.sleep(0.01)
    assert all(n.peers_heard() for n in notifiers)
    yield notifiers[0], notifiers[1]
    for container in containers:
        await close_resources(container)


@pytest.mark.parametrize("letter", ["a", "é", "🦆"], ids=["ascii", "two-byte", "escaped as a surrogate pair"])
async def test_wake_ups_for_long_type_names_all_reach_the_other_instance(
    instances: tuple[BroadcastNotifier, BroadcastNotifier], letter: str, caplog: pytest.LogCaptureFixture
) -> None:
    sender, receiver = instances
    types = [f"{n:03d}" + letter * 252 for n in range(40)]  # 255 characters each
    waiters = {job_type: receiver.listen([job_type]) for job_type in types}
    try:
        await sender.notify(dict.fromkeys(types, 1))

        woken = await asyncio.gather(*(waiter.wait(5) for waiter in waiters.values()))
    finally:
        for waiter in waiters.values():
            waiter.close()

    assert all(woken), f"{woken.count(False)} of {len(types)} types never woken"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
