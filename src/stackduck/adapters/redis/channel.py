"""Redis pub/sub as the broadcast channel between server instances."""

from __future__ import annotations

from collections.abc import AsyncIterator

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import UNAVAILABLE, unavailable


class RedisChannel:
    name = "redis-pubsub"
    #: Redis carries far more; wake-ups still go in messages of a moderate size.
    max_message_bytes = 64 * 1024

    def __init__(self, client: Client, channel: str) -> None:
        self._client = client
        self._channel = channel

    async def publish(self, message: str) -> None:
        try:
            await self._client.publish(self._channel, message)
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    async def messages(self) -> AsyncIterator[str]:
        """Yields "" once subscribed, then every message heard."""
        try:
            async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(self._channel)
                yield ""
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "message":
                        yield str(message["data"])
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc
