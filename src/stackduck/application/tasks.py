"""Stopping background tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None] | None]) -> None:
    """Cancel the tasks, then wait until each has finished its clean-up. A cancellation
    of the caller itself while it waits is not swallowed with theirs: it goes on up."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        try:
            await task
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if caller is not None and caller.cancelling():
                raise


def stop_if_cancelled() -> None:
    """Raise CancelledError when the running task has been asked to stop.

    For loops that catch a storage client's exceptions to go on: a client that turns
    a cancellation into an error of its own (redis-py does, mid-command) would
    otherwise keep a cancelled loop running, and whoever waits for it waiting forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
