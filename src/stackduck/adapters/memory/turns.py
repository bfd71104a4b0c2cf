"""The turns of one grouped job type's groups, in memory (ADR 0029).

Per priority, each group with ready entries has a heap of them (due time, then id) and
a turn: the later of when a claim last took one of its jobs and its head's due time.
The groups whose turn has come go earliest turn first; a group served goes to the back
(its turn becomes the claim's time, plus a tiny offset per group served in one claim so
the order holds). A turn has come when it is no later than the claim's time or the
latest turn a claim gave (a group served a microsecond "ahead" by that offset is not
locked out of a claim made at the same instant). A group left with nothing ready leaves
the turns until an entry comes; a group at its group_concurrency is parked: out of the
turns until one of its jobs ends (``unpark``) or ``PARK_SECONDS`` pass. Turns are kept in
heaps whose stale items are skipped when they surface, so each step costs O(log groups),
however many wait.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from stackduck.application.ports import QueueEntry
from stackduck.domain.limits import PARK_SECONDS, SERVED_STEP

Key = tuple[int, str]  # (priority, group)
Live = Callable[[QueueEntry], bool]


class Turns:
    def __init__(self) -> None:
        self._heaps: dict[Key, list[tuple[float, str, QueueEntry]]] = {}
        self._order: dict[int, list[tuple[float, int, str]]] = {1: [], 2: [], 3: []}
        self._turn: dict[Key, tuple[float, int]] = {}  # each group's live item in _order
        self._served: dict[Key, float] = {}
        self._latest = {1: 0.0, 2: 0.0, 3: 0.0}  # per priority, the latest turn given
        self._parked: dict[Key, float] = {}  # group → until when
        self._parked_order: list[tuple[float, int, str]] = []
        self._seq = itertools.count()

    def add(self, entry: QueueEntry) -> None:
        key = (entry.priority, entry.group_key)
        heap = self._heaps.setdefault(key, [])
        heapq.heappush(heap, (entry.run_at, entry.job_id, entry))
        if key not in self._turn and key not in self._parked:
            self._schedule(key)

    def entries(self) -> list[QueueEntry]:
        """Every entry held (live or not): what moves when the type's queue is rebuilt."""
        return [entry for heap in self._heaps.values() for _, _, entry in heap]

    def front(self, priority: int, now: float, live: Live) -> tuple[str, QueueEntry] | None:
        """The group whose turn is next at this priority (if it has come) and its head."""
        self._unpark_due(now)
        order = self._order[priority]
        while order:
            at, seq, group = order[0]
            key = (priority, group)
            if self._turn.get(key) != (at, seq):
                heapq.heappop(order)  # stale
                continue
            if at > max(now, self._latest[priority]):
                return None
            head = self._head(key, live)
            if head is None:
                heapq.heappop(order)
                del self._turn[key]
                continue
            return group, head
        return None

    def take(self, priority: int, group: str, now: float, served_in_claim: int, live: Live) -> QueueEntry:
        """Take the group's head (``front`` just returned it) and send the group back."""
        key = (priority, group)
        heap = self._heaps[key]
        _, _, entry = heapq.heappop(heap)
        served = self._served[key] = now + served_in_claim * SERVED_STEP
        self._latest[priority] = max(self._latest[priority], served)
        del self._turn[key]
        if self._head(key, live) is not None:
            self._schedule(key)
        else:  # gone from the turns: a group that comes back queues by its job's time
            del self._served[key]
        return entry

    def park(self, priority: int, group: str, now: float) -> None:
        key = (priority, group)
        self._turn.pop(key, None)
        until = now + PARK_SECONDS
        self._parked[key] = until
        heapq.heappush(self._parked_order, (until, priority, group))

    def unpark(self, group: str) -> None:
        for priority in (1, 2, 3):
            key = (priority, group)
            if self._parked.pop(key, None) is not None and self._heaps.get(key):
                self._schedule(key)

    def _unpark_due(self, now: float) -> None:
        while self._parked_order and self._parked_order[0][0] <= now:
            until, priority, group = heapq.heappop(self._parked_order)
            key = (priority, group)
            if self._parked.get(key) == until:
                del self._parked[key]
                if self._heaps.get(key):
                    self._schedule(key)

    def _head(self, key: Key, live: Live) -> QueueEntry | None:
        heap = self._heaps.get(key)
        while heap and not live(heap[0][2]):
            heapq.heappop(heap)
        if not heap:
            self._heaps.pop(key, None)
            return None
        return heap[0][2]

    def _schedule(self, key: Key) -> None:
        heap = self._heaps[key]
        at = max(self._served.get(key, 0.0), heap[0][0])
        seq = next(self._seq)
        self._turn[key] = (at, seq)
        heapq.heappush(self._order[key[0]], (at, seq, key[1]))
