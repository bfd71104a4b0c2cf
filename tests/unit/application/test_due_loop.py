"""The DueLoop stops when cancelled, even when its step turns the cancellation into an error."""

from __future__ import annotations

import asyncio
import time

from stackduck.application.due_loop import DueLoop
from stackduck.application.tasks import cancel_and_wait


class WallClock:
    def now(self) -> float:
        return time.time()

    def random(self) -> float:
        return 0.0


async def test_a_step_that_swallows_the_cancellation_does_not_keep_the_loop_alive() -> None:
    stepping = asyncio.Event()

    async def step() -> float | None:
        stepping.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            # What redis-py does mid-command: the cancellation comes out as its own error.
            raise ConnectionError("connection closed by a cancellation") from None
        return None

    task = asyncio.create_task(DueLoop("test", step, WallClock()).run())
    await stepping.wait()

    await asyncio.wait_for(cancel_and_wait([task]), 5)

    assert task.cancelled()
