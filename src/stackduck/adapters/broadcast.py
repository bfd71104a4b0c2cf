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

The same messages carry news of single jobs (the ``Signals`` port): stops for deliveries
that were cancelled or timed out, which the instance holding them acts on (ADR 0024), and
changes of the jobs watched somewhere (ADR 0025). Each instance names the jobs its
watchers follow in its presence (and at once when a watch starts); the others publish a
change only for those, so a job nobody watches costs nothing. The message format is in
broadcast_messages.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from typing import Protocol

from stackduck.adapters.broadcast_messages import News, decode, encode
from stackduck.adapters.memory.notifier import MemoryNotifier
from stackduck.adapters.memory.signals import MemorySignals
from stackduck.application.ports import StopListener, Waiter, Watch
from stackduck.application.stops import Stop
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
        self._signals = MemorySignals()  # stops and watches of this instance
        self._instance = uuid.uuid4().hex
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: Counter[str] = Counter()
        self._pending_stops: list[Stop] = []
        self._pending_changed: set[str] = set()
        self._new_watches: set[str] = set()  # watched here since the last publish
        # Watched here, and said so, but not yet heard back: once heard, the others have
        # heard too (give or take), and the watchers look at their jobs again.
        self._unconfirmed: set[str] = set()
        self._watched_there: dict[str, float] = {}  # job id → when a peer last said it watches it
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

    def wake(self, ready: Mapping[str, int]) -> None:
        self._hub.wake(ready)

    async def notify(self, ready: Mapping[str, int]) -> None:
        self._hub.wake(ready)
        if not self.alone():  # alone, there is nobody to tell
            self._pending.update(ready)
            self._have_pending.set()

    # -- signals: stops and watched jobs ------------------------------------------------

    def on_stop(self, listener: StopListener) -> None:
        self._signals.on_stop(listener)

    def send_stops(self, stops: Sequence[Stop]) -> None:
        if not stops:
            return
        self._signals.send_stops(stops)
        if not self.alone():
            self._pending_stops.extend(stops)
            self._have_pending.set()

    def watch(self, job_id: str) -> Watch:
        new = job_id not in self._signals.watched()
        watch = self._signals.watch(job_id)
        if new:
            self._unconfirmed.add(job_id)
            if not self.alone():  # alone: said with the next presence
                self._new_watches.add(job_id)
                self._have_pending.set()
        return watch

    def changed(self, job_ids: Iterable[str]) -> None:
        there = self._watched_there
        if not there:  # the usual case: only this instance's watchers, if any
            self._signals.changed(job_ids)
            return
        ids = list(job_ids)
        self._signals.changed(ids)
        now = asyncio.get_running_loop().time()
        for job_id in ids:
            heard = there.get(job_id)
            if heard is None:
                continue
            if now - heard < PEER_SECONDS:
                self._pending_changed.add(job_id)
                self._have_pending.set()
            else:
                del there[job_id]

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
        listed_at = said_at  # when the jobs watched here were last named
        while True:
            stop_if_cancelled()  # its client may have lost the cancellation (wait_for does, in 3.11)
            with contextlib.suppress(TimeoutError):  # not wait_for: see DueLoop.run
                async with asyncio.timeout(max(said_at + PRESENCE_SECONDS - loop.time(), 0)):
                    await self._have_pending.wait()
            self._have_pending.clear()
            news = self._take_news()
            now = loop.time()
            presence = self._say_here or self._wake_them or now - said_at >= PRESENCE_SECONDS
            if self.listening.is_set() and (self._say_here or now - listed_at >= PRESENCE_SECONDS):
                # Every job watched here, named every PRESENCE_SECONDS: in a presence, or
                # with other news when there is some (wake-ups count as presence).
                news.watching = list(self._signals.watched())
                listed_at = now
                self._unconfirmed.intersection_update(news.watching)  # watches that ended
                self._forget_watches_there(now)
            if not news and not presence:
                continue
            if not news and not self.listening.is_set():
                # Never "here" before (or while not) listening: an answer would be lost,
                # and the others are right to count this instance gone meanwhile.
                said_at = loop.time()
                continue
            owed, self._say_here, self._wake_them = self._wake_them, False, False
            news.everyone = owed  # "here", asking for a look at the queue
            try:
                for message in encode(self._instance, news, self._channel.max_message_bytes):
                    await self._channel.publish(message)
                    said_at = loop.time()
            except StorageUnavailable as exc:
                stop_if_cancelled()
                self._wake_them |= owed
                if news.ready or news.stops or news.changed:
                    # What was not carried goes again with what comes next (a stream
                    # elsewhere may be parked on the count of announced wake-ups).
                    log.warning("could not tell other instances about jobs (trying again): %s", exc.for_log())
                    self._keep(news)
                else:  # presence: said again at its next turn (the listener warns of the link)
                    log.debug("could not tell other instances this one is here: %s", exc.for_log())
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
            except Exception:
                stop_if_cancelled()
                log.exception("publishing wake-ups failed unexpectedly; going on")
                await asyncio.sleep(RESUBSCRIBE_SECONDS)

    def _forget_watches_there(self, now: float) -> None:
        """Jobs the others stopped naming (their watches ended, or they went away)."""
        there = self._watched_there
        if there:
            self._watched_there = {job_id: t for job_id, t in there.items() if now - t < PEER_SECONDS}

    def _take_news(self) -> News:
        """What piled up since the last publish, taken (new watches announced once)."""
        news = News(
            ready=self._pending,
            stops=self._pending_stops,
            changed=self._pending_changed,
            watching=[job_id for job_id in self._new_watches if job_id in self._signals.watched()],
        )
        self._pending, self._pending_stops, self._pending_changed = Counter(), [], set()
        self._new_watches = set()
        return news

    def _keep(self, news: News) -> None:
        """News the channel failed to carry: sent again with the next."""
        self._pending.update(news.ready)
        self._pending_stops.extend(news.stops)
        self._pending_changed.update(news.changed)
        self._new_watches.update(news.watching)
        self._have_pending.set()

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
                self._signals.missed()  # stops and changes too
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
            heard = decode(payload)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed message on %s: %.200r", self._channel.name, payload)
            return
        news = heard.news
        if heard.sender == self._instance:
            self._echo_at = asyncio.get_running_loop().time()  # this listener hears
            if news.watching and self._unconfirmed:
                # The others have heard of these watches now: a change they made before
                # is looked at (watchers read the job again).
                confirmed = self._unconfirmed.intersection(news.watching)
                self._unconfirmed -= confirmed
                self._signals.changed(confirmed)
            return
        self._heard_from(heard.sender)
        if news.ready:
            self._hub.wake(news.ready)
        if news.everyone:
            self._hub.wake_everyone()
        if news.stops:
            self._signals.send_stops(news.stops)
        if news.changed:
            self._signals.changed(news.changed)
        if news.watching:
            now = asyncio.get_running_loop().time()
            for job_id in news.watching:
                self._watched_there[job_id] = now
