"""What the backends' lifecycles share: a broadcast notifier that runs while the
backend is open, and background tasks stopped when it closes.

A backend is opened as an async context (its ``open`` class method): what it opens
first closes last. The memory backend opens nothing and has no ``open``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.application.tasks import cancel_and_wait


@asynccontextmanager
async def broadcasting(notifier: BroadcastNotifier) -> AsyncIterator[BroadcastNotifier]:
    """The notifier listens to its channel, and publishes to it, until the context ends."""
    await notifier.start()
    try:
        yield notifier
    finally:
        await notifier.stop()


@asynccontextmanager
async def running(**tasks: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Each coroutine runs as a task (``redis_watch=`` names it stackduck-redis-watch),
    cancelled, and waited for, when the context ends."""
    started = [
        asyncio.create_task(work, name=f"stackduck-{name.replace('_', '-')}") for name, work in tasks.items()
    ]
    try:
        yield
    finally:
        await cancel_and_wait(started)
