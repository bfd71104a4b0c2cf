"""Wake-ups inside one process: each ready job wakes one idle consumer of its type."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

#: Announced wake-ups are counted in this many buckets by job type (a type that shares
#: a bucket only makes a stream claim when it need not): bounded whatever the types.
ANNOUNCED_BUCKETS = 1024


class _Waiter:
    def __init__(self, hub: MemoryNotifier, job_types: frozenset[str]) -> None:
        self._hub = hub
        self.job_types = job_types
        self.event = asyncio.Event()
        self.used = False

    async def wait(self, max_seconds: float) -> bool:
        try:
            async with asyncio.timeout(max_seconds):
                await self.event.wait()
        except TimeoutError:
            return False
        self.used = True
        return True

    @property
    def woken(self) -> bool:
        return self.event.is_set()

    def wake(self) -> None:
        self._hub._forget(self)
        self.used = True  # not a notify's wake-up: nothing to pass on at close
        self.event.set()

    def close(self) -> None:
        self._hub._forget(self)
        if self.event.is_set() and not self.used:
            self._hub.wake({t: 1 for t in self.job_types})  # pass the wake-up on


class MemoryNotifier:
    """Consumers wait in arrival order; ``notify`` wakes as many as there are jobs."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[_Waiter, None]] = {}
        self._announced = [0] * ANNOUNCED_BUCKETS
        self._everyone = 0

    async def notify(self, ready: Mapping[str, int]) -> None:
        self.wake(ready)

    def listen(self, job_types: Collection[str]) -> _Waiter:
        waiter = _Waiter(self, frozenset(job_types))
        for job_type in waiter.job_types:
            self._waiting.setdefault(job_type, {})[waiter] = None
        return waiter

    def announced(self, job_types: Collection[str]) -> int:
        buckets = self._announced
        return self._everyone + sum(buckets[hash(job_type) % ANNOUNCED_BUCKETS] for job_type in job_types)

    def wake(self, ready: Mapping[str, int]) -> None:
        for job_type, count in ready.items():
            if count > 0:
                self._announced[hash(job_type) % ANNOUNCED_BUCKETS] += 1
            queue = self._waiting.get(job_type)
            while queue and count > 0:
                waiter = next(iter(queue))
                self._forget(waiter)
                waiter.event.set()
                count -= 1

    def wake_everyone(self) -> None:
        """Wake every waiting consumer, e.g. after wake-ups may have been missed."""
        self._everyone += 1
        self.wake({job_type: len(queue) for job_type, queue in list(self._waiting.items())})

    def _forget(self, waiter: _Waiter) -> None:
        for job_type in waiter.job_types:
            queue = self._waiting.get(job_type)
            if queue is not None:
                queue.pop(waiter, None)
                if not queue:
                    del self._waiting[job_type]
