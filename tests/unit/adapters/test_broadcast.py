"""Wake-ups between server instances: what the channel failed to carry is sent again."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from stackduck.adapters import broadcast
from stackduck.domain.errors import StorageUnavailable


async def test_a_failed_publish_is_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another server's streams may park on the count of announced wake-ups: a wake-up
    the channel failed to carry goes out again with the next ones."""
    sent: list[str] = []
    failures = [StorageUnavailable("Redis is unavailable")]

    class Channel:
        name = "test"

        async def publish(self, message: str) -> None:
            if failures:
                raise failures.pop()
            sent.append(message)

    monkeypatch.setattr(broadcast, "RESUBSCRIBE_SECONDS", 0.01)
    notifier = broadcast.BroadcastNotifier(Channel())  # type: ignore[arg-type]
    publishing = asyncio.ensure_future(notifier._publish_forever())
    try:
        await notifier.notify({"email": 2})
        for _ in range(100):
            if sent:
                break
            await asyncio.sleep(0.01)
        assert len(sent) == 1 and "email" in sent[0]
    finally:
        publishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publishing
