"""Stopping background tasks without losing the stopper's own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from stackduck.application.tasks import cancel_and_wait


async def test_the_tasks_are_cancelled_and_their_clean_up_awaited() -> None:
    cleaned: list[str] = []

    async def background() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)
            cleaned.append("done")

    task = asyncio.create_task(background())
    await asyncio.sleep(0)

    await cancel_and_wait([task, None])

    assert task.cancelled() and cleaned == ["done"]


async def test_a_caller_cancelled_while_it_waits_stays_cancelled() -> None:
    """A caller stopped while a slow clean-up runs must not go on as if nothing
    happened: its CancelledError is not the task's, and is not swallowed with it."""
    slow_clean_up = asyncio.Event()
    went_on = False

    async def background() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await slow_clean_up.wait()

    async def stopper(task: asyncio.Task[None]) -> None:
        nonlocal went_on
        await cancel_and_wait([task])
        went_on = True

    task = asyncio.create_task(background())
    await asyncio.sleep(0)
    caller = asyncio.create_task(stopper(task))
    await asyncio.sleep(0.01)  # the stopper now waits for the clean-up
    caller.cancel()

    with pytest.raises(asyncio.CancelledError):
        await caller
    assert not went_on
    slow_clean_up.set()
    with pytest.raises(asyncio.CancelledError):
        await task
