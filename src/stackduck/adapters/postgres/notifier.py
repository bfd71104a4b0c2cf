"""Wake-ups across server instances through LISTEN/NOTIFY.

Local consumers are woken at once through the in-process hub; other instances
hear a NOTIFY on one channel and wake their own. A listener connection is kept
open (and re-opened after a failure) for the life of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Collection, Mapping
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.memory.notifier import MemoryNotifier
from stackduck.adapters.postgres.errors import UNAVAILABLE, unavailable
from stackduck.application.ports import Waiter

log = logging.getLogger(__name__)

CHANNEL = "stackduck_ready"
RECONNECT_SECONDS = 1.0
MAX_PAYLOAD = 7000  # NOTIFY payloads must stay under 8000 bytes


class PostgresNotifier:
    def __init__(self, pool: AsyncConnectionPool[Any], conninfo: str) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._hub = MemoryNotifier()
        self._instance = uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def listen(self, job_types: Collection[str]) -> Waiter:
        return self._hub.listen(job_types)

    async def notify(self, ready: Mapping[str, int]) -> None:
        self._hub.wake(ready)
        try:
            async with self._pool.connection() as conn:
                for payload in self._payloads(ready):
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        except UNAVAILABLE as exc:
            # The jobs are stored; other instances will find them on their next look.
            log.warning("could not tell other instances about ready jobs: %s", unavailable(exc))

    def _payloads(self, ready: Mapping[str, int]) -> list[str]:
        payloads, chunk = [], {}
        for job_type, count in ready.items():
            chunk[job_type] = count
            if len(json.dumps(chunk)) > MAX_PAYLOAD:
                payloads.append(self._encode(chunk))
                chunk = {}
        if chunk:
            payloads.append(self._encode(chunk))
        return payloads

    def _encode(self, chunk: Mapping[str, int]) -> str:
        return json.dumps({"from": self._instance, "ready": chunk})

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="stackduck-postgres-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self._hub.wake_everyone()  # what was said while we were not listening is lost
                    async for message in conn.notifies():
                        self._heard(message.payload)
            except (psycopg.Error, OSError) as exc:
                self.listening.clear()
                log.warning("listener lost its connection (%s); reconnecting", exc)
                await asyncio.sleep(RECONNECT_SECONDS)

    def _heard(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message["from"] != self._instance:
                self._hub.wake({str(k): int(v) for k, v in message["ready"].items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed notification on %s: %.200r", CHANNEL, payload)
