"""LISTEN/NOTIFY as the broadcast channel between server instances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import UNAVAILABLE, unavailable
from stackduck.adapters.postgres.queries import sql


class PostgresChannel:
    name = "postgres-listen"
    #: NOTIFY refuses a payload of 8,000 bytes or more ("payload string too long").
    max_message_bytes = 7999

    def __init__(self, pool: AsyncConnectionPool[Any], conninfo: str) -> None:
        self._pool = pool
        self._conninfo = conninfo

    async def publish(self, message: str) -> None:
        try:
            async with self._pool.connection() as conn:
                await conn.execute(sql("channel/notify"), {"message": message})
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    async def messages(self) -> AsyncIterator[str]:
        """Yields "" once subscribed, then every payload heard."""
        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            async with conn:
                await conn.execute(sql("channel/listen"))
                yield ""
                async for notification in conn.notifies():
                    yield notification.payload
        except (*UNAVAILABLE, psycopg.Error) as exc:
            raise unavailable(exc) from exc
