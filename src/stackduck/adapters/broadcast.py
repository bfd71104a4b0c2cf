"""Wake-ups shared by every server instance through a broadcast channel.

Local consumers are woken at once through the in-process hub; the other
instances hear a message on the channel (LISTEN/NOTIFY, Redis pub/sub, ...) and
wake their own. Publishing happens in the background, never on the request path
(a hung channel must not slow an enqueue), and what piles up meanwhile goes out
as one message. The listener re-subscribes after a failure, and then wakes every
local consumer, since what was said in between is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Protocol

from stackduck.adapters.memory.notifier import MemoryNotifier
from stackduck.application.ports import Waiter
from stackduck.application.tasks import cancel_and_wait, stop_if_cancelled
from stackduck.domain.errors import StorageUnavailable

log = logging.getLogger(__name__)

RESUBSCRIBE_SECONDS = 1.0
MAX_MESSAGE = 7000  # Postgres NOTIFY payloads must stay under 8000 bytes


class Channel(Protocol):
    name: str

    async def publish(self, message: str) -> None:
        """Send to every subscriber (this instance included); StorageUnavailable on failure."""

    def messages(self) -> AsyncIterator[str]:
        """Subscribe and yield what is heard; ends or raises StorageUnavailable when the link drops."""


class BroadcastNotifier:
    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._hub = MemoryNotifier()
        self._instance = uuid.uuid4().hex
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: Counter[str] = Counter()
        self._have_pending = asyncio.Event()
        self.listening = asyncio.Event()

    def listen(self, job_types: Collection[str]) -> Waiter:
        return self._hub.listen(job_types)

    def announced(self, job_types: Collection[str]) -> int:
        return self._hub.announced(job_types)

    async def notify(self, ready: Mapping[str, int]) -> None:
        self._hub.wake(ready)
        self._pending.update(ready)
        self._have_pending.set()

    def wake_everyone(self) -> None:
        """Every local consumer looks at the queue again (it changed under them)."""
        self._hub.wake_everyone()

    async def start(self) -> None:
        name = self._channel.name
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name=f"stackduck-{name}-listen"),
            asyncio.create_task(self._publish_forever(), name=f"stackduck-{name}-publish"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)

    async def _publish_forever(self) -> None:
        while True:
            await self._have_pending.wait()
            self._have_pending.clear()
            ready, self._pending = self._pending, Counter()
            try:
                for message in self._messages(ready):
                    await self._channel.publish(message)
            except StorageUnavailable as exc:
                stop_if_cancelled()
                # The jobs are stored; the wake-ups are sent again with the next ones (a
                # stream elsewhere may be parked on the count of announced wake-ups).
                log.warning("could not tell other instances about ready jobs (trying again): %s", exc)
                self._pending.update(ready)
                self._have_pending.set()
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
            except Exception:
                stop_if_cancelled()
                log.exception("publishing wake-ups failed unexpectedly; going on")
                await asyncio.sleep(RESUBSCRIBE_SECONDS)

    def _messages(self, ready: Mapping[str, int]) -> list[str]:
        messages, chunk = [], {}
        for job_type, count in ready.items():
            chunk[job_type] = count
            if len(json.dumps(chunk)) > MAX_MESSAGE:
                messages.append(self._encode(chunk))
                chunk = {}
        if chunk:
            messages.append(self._encode(chunk))
        return messages

    def _encode(self, chunk: Mapping[str, int]) -> str:
        return json.dumps({"from": self._instance, "ready": chunk})

    async def _listen_forever(self) -> None:
        while True:
            try:
                async for message in self._subscribed():
                    self._heard(message)
            except (StorageUnavailable, OSError) as exc:
                stop_if_cancelled()
                log.warning("%s listener lost its link (%s); re-subscribing", self._channel.name, exc)
            except Exception:
                stop_if_cancelled()
                log.exception("%s listener failed unexpectedly; re-subscribing", self._channel.name)
            self.listening.clear()
            await asyncio.sleep(RESUBSCRIBE_SECONDS)

    async def _subscribed(self) -> AsyncIterator[str]:
        first = True
        async for message in self._channel.messages():
            if first:  # the subscription is live: look again at what may have been missed
                first = False
                self.listening.set()
                self._hub.wake_everyone()
            if message:
                yield message

    def _heard(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message["from"] != self._instance:
                self._hub.wake({str(k): int(v) for k, v in message["ready"].items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed message on %s: %.200r", self._channel.name, payload)
