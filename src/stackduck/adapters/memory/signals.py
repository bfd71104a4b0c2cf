"""Stops and watches inside one process: the memory configuration's signals, and the
local half of the broadcast ones."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence

from stackduck.application.ports import StopListener
from stackduck.application.stops import Stop


class _Watch:
    def __init__(self, hub: MemorySignals, job_id: str) -> None:
        self._hub = hub
        self.job_id = job_id
        self._event = asyncio.Event()

    async def wait(self, max_seconds: float) -> bool:
        try:
            async with asyncio.timeout(max_seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()  # a change from now on wakes it again
        return True

    def wake(self) -> None:
        self._event.set()

    def close(self) -> None:
        self._hub._forget(self)


class MemorySignals:
    def __init__(self) -> None:
        self._listeners: list[StopListener] = []
        self._watches: dict[str, set[_Watch]] = {}

    def on_stop(self, listener: StopListener) -> None:
        self._listeners.append(listener)

    def send_stops(self, stops: Sequence[Stop]) -> None:
        if stops:
            for listener in self._listeners:
                listener.stopped(stops)

    def missed(self) -> None:
        """Stops and changes may have been lost: holders check, watchers look again."""
        for listener in self._listeners:
            listener.missed()
        for watches in self._watches.values():
            for watch in watches:
                watch.wake()

    def watch(self, job_id: str) -> _Watch:
        watch = _Watch(self, job_id)
        self._watches.setdefault(job_id, set()).add(watch)
        return watch

    def watched(self) -> Collection[str]:
        """The jobs watched here."""
        return self._watches.keys()

    def changed(self, job_ids: Iterable[str]) -> None:
        watches = self._watches
        if not watches:  # the usual case: nothing to look up
            return
        for job_id in job_ids:
            for watch in watches.get(job_id, ()):
                watch.wake()

    def _forget(self, watch: _Watch) -> None:
        watches = self._watches.get(watch.job_id)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del self._watches[watch.job_id]
