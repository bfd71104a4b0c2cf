"""Wake-ups shared by every server instance through a broadcast channel.

Local consumers are woken at once through the in-process hub; the other
instances hear a message on the channel (LISTEN/NOTIFY, Redis pub/sub, ...) and
wake their own. Publishing happens in the background, never on the request path
(a hung channel must not slow an enqueue), and what piles up meanwhile goes out
as one message. The listener re-subscribes after a failure, and then wakes every
local consumer, since what was said in between is lost.

Wake-ups are not published by an instance that knows it is alone: every instance says
it is here (a message with no wake-ups) as soon as its own subscription is live, every
``PRESENCE_SECONDS`` after, and at once on hearing an instance new to it (so a newcomer
learns of the others in one round trip); one that hears its own messages come back and
no other instance's within ``PEER_SECONDS`` skips the publish. A lone server — the usual
deployment — so saves a publish per enqueue, and hearing it back (ADR 0015).
"""

from __future__ import annotations

import asyncio
import contextlib
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
#: How often an instance says it is here, and how long one it heard counts as there.
PRESENCE_SECONDS = 2.0
PEER_SECONDS = 3 * PRESENCE_SECONDS


class Channel(Protocol):
    name: str
    #: The longest message the channel carries, in bytes: wake-ups are split to fit.
    max_message_bytes: int

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
        # Said as soon as this instance's own subscription is live (at start, and again
        # after a lost link), never before: a peer's answer must find it listening.
        self._say_here = False
        # Set on hearing an instance new to this one: its next presence asks every
        # instance to look at the queue again (wake-ups skipped while alone are owed).
        self._wake_them = False
        self._peers: dict[str, float] = {}  # instance → when last heard (the event loop's clock)
        self._echo_at: float | None = None  # when this instance last heard its own message
        self.listening = asyncio.Event()

    def listen(self, job_types: Collection[str]) -> Waiter:
        return self._hub.listen(job_types)

    def announced(self, job_types: Collection[str]) -> int:
        return self._hub.announced(job_types)

    async def notify(self, ready: Mapping[str, int]) -> None:
        self._hub.wake(ready)
        if not self.alone():  # alone, there is nobody to tell
            self._pending.update(ready)
            self._have_pending.set()

    def peers_heard(self) -> bool:
        """Whether another instance was heard from lately (its wake-ups or its presence)."""
        now = asyncio.get_running_loop().time()
        return any(now - heard < PEER_SECONDS for heard in self._peers.values())

    def alone(self) -> bool:
        """Known to be alone: this instance hears the channel (its own messages come
        back) and has heard no other lately. A listener that hears nothing — down, or
        a link that died without a word — proves nothing, so wake-ups go out."""
        echo = self._echo_at
        heard_itself = echo is not None and asyncio.get_running_loop().time() - echo < PEER_SECONDS
        return heard_itself and not self.peers_heard()

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
        loop = asyncio.get_running_loop()
        said_at = loop.time()  # the first presence waits for the subscription (above)
        while True:
            stop_if_cancelled()  # its client may have lost the cancellation (wait_for does, in 3.11)
            with contextlib.suppress(TimeoutError):  # not wait_for: see DueLoop.run
                async with asyncio.timeout(max(said_at + PRESENCE_SECONDS - loop.time(), 0)):
                    await self._have_pending.wait()
            self._have_pending.clear()
            ready, self._pending = self._pending, Counter()
            if (
                not ready
                and not (self._say_here or self._wake_them)
                and loop.time() - said_at < PRESENCE_SECONDS
            ):
                continue
            if not ready and not self.listening.is_set():
                # Never "here" before (or while not) listening: an answer would be lost,
                # and the others are right to count this instance gone meanwhile.
                said_at = loop.time()
                continue
            owed, self._say_here, self._wake_them = self._wake_them, False, False
            messages = self._messages(ready)
            if owed or not messages:  # "here" (asking for a look at the queue when owed)
                messages.append(self._encode({}, wake_everyone=owed))
            try:
                for message in messages:
                    await self._channel.publish(message)
                    said_at = loop.time()
            except StorageUnavailable as exc:
                stop_if_cancelled()
                self._wake_them |= owed
                if ready:
                    # The jobs are stored; the wake-ups are sent again with the next ones
                    # (a stream elsewhere may be parked on the count of announced wake-ups).
                    log.warning(
                        "could not tell other instances about ready jobs (trying again): %s", exc.for_log()
                    )
                    self._pending.update(ready)
                    self._have_pending.set()
                else:  # presence: said again at its next turn (the listener warns of the link)
                    log.debug("could not tell other instances this one is here: %s", exc.for_log())
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
            except Exception:
                stop_if_cancelled()
                log.exception("publishing wake-ups failed unexpectedly; going on")
                await asyncio.sleep(RESUBSCRIBE_SECONDS)

    def _messages(self, ready: Mapping[str, int]) -> list[str]:
        """The wake-ups as messages the channel carries (each at most its
        max_message_bytes); a type too long to fit even alone asks everyone to look."""
        limit = self._channel.max_message_bytes
        messages: list[str] = []
        chunk: dict[str, int] = {}
        empty = size = len(self._encode({}, wake_everyone=True))  # as ASCII: bytes = characters
        too_long = False
        for job_type, count in ready.items():
            entry = len(json.dumps(job_type)) + len(str(count)) + 4  # '"type": n, '
            if empty + entry > limit:
                too_long = True
                continue
            if size + entry > limit:
                messages.append(self._encode(chunk))
                chunk, size = {}, empty
            chunk[job_type] = count
            size += entry
        if chunk or too_long:
            messages.append(self._encode(chunk, wake_everyone=too_long))
        return messages

    def _encode(self, chunk: Mapping[str, int], wake_everyone: bool = False) -> str:
        message: dict[str, object] = {"from": self._instance, "ready": chunk}
        if wake_everyone:
            message["everyone"] = True  # an earlier version ignores the key
        return json.dumps(message)

    async def _listen_forever(self) -> None:
        while True:
            try:
                async for message in self._subscribed():
                    self._heard(message)
            except (StorageUnavailable, OSError) as exc:
                stop_if_cancelled()
                why = exc.for_log() if isinstance(exc, StorageUnavailable) else exc
                log.warning("%s listener lost its link (%s); re-subscribing", self._channel.name, why)
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
                self._say_here = True  # and tell the others at once
                self._have_pending.set()
            if message:
                yield message

    def _heard_from(self, sender: str) -> None:
        now = asyncio.get_running_loop().time()
        heard = self._peers.get(sender)
        if heard is None or now - heard >= PEER_SECONDS:
            # New here (or back): it learns of this one now, not at the next presence,
            # and looks at the queue again: jobs made ready here while this instance
            # thought itself alone were not announced to it.
            self._peers = {k: t for k, t in self._peers.items() if now - t < PEER_SECONDS}
            self._say_here = self._wake_them = True
            self._have_pending.set()
        self._peers[sender] = now

    def _heard(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            sender = str(message["from"])
            ready = {str(k): int(v) for k, v in message["ready"].items()}
            if sender == self._instance:
                self._echo_at = asyncio.get_running_loop().time()  # this listener hears
                return
            self._heard_from(sender)
            if ready:
                self._hub.wake(ready)
            if message.get("everyone"):
                self._hub.wake_everyone()
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed message on %s: %.200r", self._channel.name, payload)
