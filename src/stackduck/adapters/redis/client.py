"""The Redis client and its Lua scripts, as resources the container opens and closes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cache
from importlib.resources import files

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from stackduck.adapters.redis.errors import UNAVAILABLE, unavailable

#: How long one command may take before Redis counts as failing.
SOCKET_TIMEOUT_SECONDS = 1.0

Client = redis.Redis


@cache
def lua(name: str) -> str:
    return files("stackduck.adapters.redis").joinpath("scripts", f"{name}.lua").read_text()


async def open_client(url: str) -> AsyncIterator[Client]:
    client = redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        # No automatic retry: a script that timed out on this side may have run on the
        # server, and running a pop or a compare-and-set twice is not harmless. A broken
        # pooled connection fails one call (UNAVAILABLE, retryable) and is replaced.
        retry=Retry(NoBackoff(), 0),
        health_check_interval=10,
    )
    try:
        yield client
    finally:
        try:
            await client.aclose()
        except UNAVAILABLE as exc:  # pragma: no cover - closing a dead link
            raise unavailable(exc) from exc
