"""Paused job types in Redis (Redis alone), shared by every server instance."""

from __future__ import annotations

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import translated
from stackduck.adapters.redis.keys import Keys


class RedisPausedTypes:
    def __init__(self, client: Client, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    @translated
    async def paused(self) -> frozenset[str]:
        return frozenset(str(t) for t in await self._client.smembers(self._keys.paused))

    @translated
    async def set_paused(self, job_type: str, paused: bool) -> None:
        if paused:
            await self._client.sadd(self._keys.paused, job_type)
        else:
            await self._client.srem(self._keys.paused, job_type)
