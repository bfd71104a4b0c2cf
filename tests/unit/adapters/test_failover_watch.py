"""The Redis watcher stops when it is cancelled, even when the Redis client loses the
cancellation: redis-py sends through asyncio.wait_for, which in Python 3.11 returns the
reply when the cancellation comes as the send ends. The backend's close waits for the
watcher, so a watcher that went on pinging would hold the server's shutdown for ever."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from stackduck.adapters import failover
from stackduck.adapters.clock import SystemClock
from stackduck.adapters.failover import FailoverReadyQueue
from stackduck.adapters.memory.store import MemoryJobStore
from stackduck.adapters.redis.queue import RedisState
from stackduck.application.tasks import cancel_and_wait
from stackduck.domain.errors import StorageUnavailable


class SwallowingRedis:
    """Redis whose ping, cancelled while it waits, answers anyway (or, with ``fails``,
    raises an error of its own as redis-py does mid-command)."""

    def __init__(self, fails: bool = False) -> None:
        self.fails = fails
        self.waiting = asyncio.Event()
        self.pings = 0

    async def ping(self) -> RedisState:
        self.pings += 1
        self.waiting.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        if self.fails:
            raise StorageUnavailable("Redis: connection closed by the cancelled command")
        return RedisState(seeded=True, run_id="r1", evicted_keys=0)


@pytest.mark.parametrize("fails", [False, True], ids=["answers", "raises"])
async def test_the_watcher_stops_though_its_ping_lost_the_cancellation(
    monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    monkeypatch.setattr(failover, "WATCH_SECONDS", 0.0)
    redis = SwallowingRedis(fails)
    queue = FailoverReadyQueue(redis, MemoryJobStore(), SystemClock(), notifier=None)  # type: ignore[arg-type]
    watcher = asyncio.ensure_future(queue.watch())
    await asyncio.wait_for(redis.waiting.wait(), 5)

    async with asyncio.timeout(5):
        await cancel_and_wait([watcher])

    assert watcher.cancelled()
    assert redis.pings == 1  # it did not go on pinging
    assert not queue.degraded  # nor fail over to memory for a cancellation
