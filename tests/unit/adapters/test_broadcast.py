"""Wake-ups between server instances: sent only while another instance is there to
hear them, and what the channel failed to carry is sent again."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from stackduck.adapters import broadcast
from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.application.stops import Stop
from stackduck.domain.errors import StorageUnavailable


class Channel:
    """A broadcast channel in memory: every subscriber hears every message, the
    publisher's own subscription included (as on LISTEN/NOTIFY and Redis pub/sub)."""

    name = "test"

    def __init__(self, deaf: int = 0, subscribe_seconds: float = 0.0, max_message_bytes: int = 7999) -> None:
        self.max_message_bytes = max_message_bytes
        self.sizes: list[int] = []
        self.sent: list[dict[str, object]] = []
        self.failures: list[Exception] = []
        self._subscribers: list[asyncio.Queue[str | None]] = []
        self._deaf = deaf  # the first this many subscriptions go live but hear nothing
        self._subscribe_seconds = subscribe_seconds

    async def publish(self, message: str) -> None:
        if self.failures:
            raise self.failures.pop()
        self.sizes.append(len(message.encode()))
        self.sent.append(json.loads(message))
        for queue in self._subscribers:
            queue.put_nowait(message)

    async def messages(self) -> AsyncIterator[str]:
        await asyncio.sleep(self._subscribe_seconds)
        if self._deaf:
            self._deaf -= 1
            yield ""  # "subscribed", then silence: a link that died without a word
            await asyncio.Event().wait()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            yield ""  # subscribed
            while True:
                message = await queue.get()
                if message is None:
                    raise StorageUnavailable("the link dropped")
                yield message
        finally:
            self._subscribers.remove(queue)

    def drop(self) -> None:
        """Every subscription's link drops (what was said meanwhile is lost to it)."""
        for queue in self._subscribers:
            queue.put_nowait(None)

    def wake_ups(self) -> list[dict[str, object]]:
        return [message for message in self.sent if message["ready"]]


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broadcast, "PRESENCE_SECONDS", 0.05)
    monkeypatch.setattr(broadcast, "PEER_SECONDS", 0.15)
    monkeypatch.setattr(broadcast, "RESUBSCRIBE_SECONDS", 0.01)


@contextlib.asynccontextmanager
async def running(channel: Channel) -> AsyncIterator[BroadcastNotifier]:
    notifier = BroadcastNotifier(channel)  # type: ignore[arg-type]
    await notifier.start()
    try:
        await asyncio.wait_for(notifier.listening.wait(), 1)
        yield notifier
    finally:
        await notifier.stop()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_a_lone_instance_says_it_is_here_but_publishes_no_wake_ups() -> None:
    channel = Channel()
    async with running(channel) as alone:
        await until(alone.alone)  # it hears its own "here", and nobody else's
        waiter = alone.listen(["email"])
        await alone.notify({"email": 1})
        assert waiter.woken  # its own streams are woken in process, as always
        await asyncio.sleep(0.2)
    assert channel.sent and channel.wake_ups() == []  # presence only


async def test_an_instance_that_does_not_hear_itself_keeps_publishing() -> None:
    """Its listener may be dead without a word while others listen: not knowing it is
    alone, it tells them."""
    channel = Channel(deaf=1)
    async with running(channel) as deaf:
        await asyncio.sleep(0.1)
        await deaf.notify({"email": 1})
        await until(lambda: bool(channel.wake_ups()))


async def test_nothing_is_said_before_the_subscription_is_live() -> None:
    """An answer to a "here" said before listening would be lost."""
    channel = Channel(subscribe_seconds=0.2)  # four presence periods
    notifier = BroadcastNotifier(channel)  # type: ignore[arg-type]
    await notifier.start()
    try:
        await asyncio.sleep(0.15)
        assert channel.sent == []
        await asyncio.wait_for(notifier.listening.wait(), 1)
        await until(lambda: bool(channel.sent))
    finally:
        await notifier.stop()


async def test_with_another_instance_there_wake_ups_reach_it() -> None:
    channel = Channel()
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        waiter = b.listen(["email"])
        announced = b.announced(["email"])

        await a.notify({"email": 1})

        await until(lambda: waiter.woken)
        assert b.announced(["email"]) > announced


async def test_a_newcomer_hears_of_the_others_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not at their next presence: an instance that hears a new one says it is here."""
    monkeypatch.setattr(broadcast, "PRESENCE_SECONDS", 30.0)
    monkeypatch.setattr(broadcast, "PEER_SECONDS", 90.0)
    channel = Channel()
    async with running(channel) as a:
        await asyncio.sleep(0.05)  # a has said it is here, to nobody
        async with running(channel) as b:
            await until(lambda: a.peers_heard() and b.peers_heard())  # within 2 s, not 30


async def test_instances_that_meet_look_at_the_queue_again() -> None:
    """Wake-ups an instance skipped while it thought itself alone are owed to the one
    that just arrived: meeting, each asks the other to look at the queue once."""
    channel = Channel()
    async with running(channel) as a:
        await a.notify({"email": 1})  # alone: not published
        waiter_a = a.listen(["email"])
        async with running(channel) as b:
            waiter_b = b.listen(["email"])
            await until(lambda: waiter_a.woken and waiter_b.woken)
            await asyncio.sleep(0.2)  # several presences later
    asks = [message for message in channel.sent if message.get("everyone")]
    assert len(asks) == 2  # one each, when they met; not in every presence


async def test_an_instance_that_went_quiet_is_no_longer_told() -> None:
    channel = Channel()
    async with running(channel) as a:
        async with running(channel) as b:
            await until(lambda: a.peers_heard() and b.peers_heard())
        await until(a.alone)  # b stopped saying it is here
        sent = len(channel.wake_ups())
        await a.notify({"email": 1})
        await asyncio.sleep(0.1)
        assert len(channel.wake_ups()) == sent


async def test_a_failed_publish_is_sent_again() -> None:
    """Another server's streams may park on the count of announced wake-ups: a wake-up
    the channel failed to carry goes out again with the next ones."""
    channel = Channel()
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        channel.failures.append(StorageUnavailable("Redis is unavailable"))

        await a.notify({"email": 2})

        await until(lambda: bool(channel.wake_ups()))
        assert [message["ready"] for message in channel.wake_ups()] == [{"email": 2}]


async def test_wake_ups_go_in_messages_the_channel_carries() -> None:
    channel = Channel(max_message_bytes=600)
    types = [f"{n:02d}" + "🦆" * 20 for n in range(30)]  # 242 bytes each, escaped
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        waiters = [b.listen([job_type]) for job_type in types]

        await a.notify(dict.fromkeys(types, 3))

        await until(lambda: all(waiter.woken for waiter in waiters))
    told: dict[str, object] = {}
    for message in channel.wake_ups():
        told.update(message["ready"])  # type: ignore[call-overload]
    assert told == dict.fromkeys(types, 3)
    assert len(channel.wake_ups()) > 10 and max(channel.sizes) <= 600


async def test_a_type_too_long_for_any_message_asks_everyone_to_look() -> None:
    channel = Channel(max_message_bytes=200)
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        waiter = b.listen(["x" * 300])
        other = b.listen(["short"])
        before = len(channel.sent)

        await a.notify({"x" * 300: 1, "short": 1})

        await until(lambda: waiter.woken and other.woken)
    assert max(channel.sizes) <= 200
    [told] = [message for message in channel.sent[before:] if message["ready"]]
    assert told["ready"] == {"short": 1} and told["everyone"] is True


class SwallowingChannel(Channel):
    """A channel whose first publish, cancelled while it waits, goes on as if it had not
    been: what asyncio.wait_for does in Python 3.11 when its wait ends as the
    cancellation comes (the connection pool's checkout waits with it)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.swallowed = 0

    async def publish(self, message: str) -> None:
        if not self.swallowed:
            self.waiting.set()
            try:
                await asyncio.sleep(3600)  # a pool with no free connection
            except asyncio.CancelledError:
                self.swallowed += 1
        await super().publish(message)


async def test_stopping_ends_the_publisher_even_when_its_client_swallowed_the_cancellation() -> None:
    """The server's shutdown waits for the publisher: a cancellation the client lost must
    still stop it, not leave it publishing forever (found with every pooled connection
    busy at shutdown)."""
    channel = SwallowingChannel()
    notifier = BroadcastNotifier(channel)  # type: ignore[arg-type]
    await notifier.start()
    await asyncio.wait_for(channel.waiting.wait(), 1)  # its first "here", stuck on the pool

    published = len(channel.sent)
    async with asyncio.timeout(2):
        await notifier.stop()

    assert channel.swallowed == 1
    assert len(channel.sent) <= published + 1, "it went on publishing after it was stopped"


# -- stops and watched jobs ---------------------------------------------------------------

STOP = Stop("job-1", 2, "cancelled", "cancelled while running")


class Recorder:
    def __init__(self) -> None:
        self.stops: list[Stop] = []
        self.checks = 0

    def stopped(self, stops: Sequence[Stop]) -> None:
        self.stops.extend(stops)

    def missed(self) -> None:
        self.checks += 1


def said(channel: Channel, key: str) -> list[object]:
    """Everything the channel carried under ``key``."""
    found: list[object] = []
    for message in channel.sent:
        part = message.get(key)
        if isinstance(part, dict):
            found.extend(part.items())
        elif isinstance(part, list):
            found.extend(part)
    return found


async def test_a_stop_reaches_the_holder_on_another_instance_and_this_one() -> None:
    channel = Channel()
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        here, there = Recorder(), Recorder()
        a.on_stop(here)
        b.on_stop(there)

        a.send_stops([STOP])

        assert here.stops == [STOP]  # at once, in process
        await until(lambda: there.stops == [STOP])


async def test_a_lone_instance_publishes_no_stop() -> None:
    channel = Channel()
    async with running(channel) as alone:
        await until(alone.alone)
        here = Recorder()
        alone.on_stop(here)

        alone.send_stops([STOP])
        await asyncio.sleep(0.2)

    assert here.stops == [STOP] and said(channel, "stop") == []


async def test_changes_go_out_only_for_jobs_another_instance_watches() -> None:
    channel = Channel()
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        a.changed(["job-1", "job-2"])
        await asyncio.sleep(0.1)
        assert said(channel, "changed") == []  # nobody watches them

        watch = b.watch("job-1")
        assert await watch.wait(1)  # its watch came back to it...
        await asyncio.sleep(0.05)  # ...and reached a
        a.changed(["job-1", "job-2"])

        assert await watch.wait(1)
        assert said(channel, "changed") == ["job-1"]
        watch.close()


async def test_a_watch_is_said_at_once_then_in_every_presence_until_it_closes() -> None:
    channel = Channel()
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        watch = b.watch("job-1")
        await until(lambda: "job-1" in said(channel, "watching"))
        await asyncio.sleep(0.2)  # four presences
        assert said(channel, "watching").count("job-1") >= 3

        watch.close()
        await asyncio.sleep(0.25)  # longer than PEER_SECONDS: a forgets it
        before = len(said(channel, "changed"))
        a.changed(["job-1"])
        await asyncio.sleep(0.1)
        assert len(said(channel, "changed")) == before


async def test_watched_jobs_are_named_every_presence_period_even_among_wake_ups() -> None:
    """Wake-ups count as presence; the list of watched jobs must not wait for a quiet
    moment, or the others would forget it and stop publishing its changes."""
    channel = Channel()
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        watch = b.watch("job-1")
        await until(lambda: "job-1" in said(channel, "watching"))
        named = said(channel, "watching").count("job-1")

        for _ in range(30):  # 0.3 s of wake-ups, more often than presence is due
            await b.notify({"email": 1})
            await asyncio.sleep(0.01)

        assert said(channel, "watching").count("job-1") - named >= 3
        watch.close()


async def test_a_watcher_looks_again_once_its_watch_is_heard_back() -> None:
    """A change another instance made before it heard of the watch is not missed: the
    watcher reads its job again when its own announcement comes back."""
    channel = Channel()
    async with running(channel) as a, running(channel) as b:
        await until(lambda: a.peers_heard() and b.peers_heard())
        watch = b.watch("job-1")

        assert await watch.wait(1)
        watch.close()


async def test_after_a_dropped_link_holders_check_and_watchers_look_again() -> None:
    channel = Channel()
    async with running(channel) as a:
        holder = Recorder()
        a.on_stop(holder)
        watch = a.watch("job-1")
        await asyncio.sleep(0.1)
        while await watch.wait(0.01):  # whatever woke it so far
            pass
        checks = holder.checks

        channel.drop()

        await until(lambda: holder.checks > checks)
        assert await watch.wait(1)
        watch.close()
