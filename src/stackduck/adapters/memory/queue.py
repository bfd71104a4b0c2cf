"""The ready queue in heaps: one per job type for ready jobs, one for held jobs; a type
with groups keeps its ready jobs in turns instead (turns.py, ADR 0029).

Heap items are never removed in place: a job's live entry is the one in
``_entries``; any other item for it is stale and skipped when it surfaces.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Collection, Sequence

from stackduck.adapters.memory.turns import Turns
from stackduck.application.ports import QueueEntry
from stackduck.domain.priority import ReadyKey, ready_key

#: How many more jobs of a (job type, group) may start now.
Room = Callable[[str, str], int]


class MemoryReadyQueue:
    def __init__(self) -> None:
        self._entries: dict[str, QueueEntry] = {}
        self._ready: dict[str, list[tuple[ReadyKey, QueueEntry]]] = {}
        self._held: list[tuple[float, str, QueueEntry]] = []
        self._turns: dict[str, Turns] = {}  # the types with groups

    async def push(self, entries: Sequence[QueueEntry], now: float) -> None:
        for entry in entries:
            self._entries[entry.job_id] = entry
            if entry.run_at <= now:
                self._make_ready(entry)
            else:
                heapq.heappush(self._held, (entry.run_at, entry.job_id, entry))

    async def pop(
        self, job_types: Collection[str], now: float, limit: int, room: Room | None = None
    ) -> list[QueueEntry]:
        """The best ``limit`` ready entries of these types: by priority, then a grouped
        type's groups in turns, an ungrouped type's entries by due time. ``room``: a
        group with no room is parked (passed over until one of its jobs ends)."""
        taken: list[QueueEntry] = []
        served: dict[str, int] = {}
        while len(taken) < limit:
            best: tuple[ReadyKey, str, str | None] | None = None  # key, type, group
            for job_type in job_types:
                candidate = self._candidate(job_type, now, room)
                if candidate is not None and (best is None or candidate[0] < best[0]):
                    best = (candidate[0], job_type, candidate[1])
            if best is None:
                break
            _, job_type, group = best
            if group is None:
                _, entry = heapq.heappop(self._ready[job_type])
            else:
                count = served.get(job_type, 0)
                entry = self._turns[job_type].take(best[0][0], group, now, count, self._live)
                served[job_type] = count + 1
            del self._entries[entry.job_id]
            taken.append(entry)
        return taken

    def _candidate(self, job_type: str, now: float, room: Room | None) -> tuple[ReadyKey, str | None] | None:
        """The type's next entry's order key, and its group (None: an ungrouped type)."""
        turns = self._turns.get(job_type)
        if turns is None:
            heap = self._ready.get(job_type)
            if not heap:
                return None
            self._drop_stale(heap)
            return (heap[0][0], None) if heap else None
        for priority in (1, 2, 3):
            while (front := turns.front(priority, now, self._live)) is not None:
                group, head = front
                if room is not None and room(job_type, group) <= 0:
                    turns.park(priority, group, now)
                    continue
                return ready_key(priority, head.run_at, head.job_id), group
        return None

    def grouped(self) -> frozenset[str]:
        return frozenset(self._turns)

    def unpark(self, job_type: str, groups: Collection[str]) -> None:
        turns = self._turns.get(job_type)
        if turns is not None:
            for group in groups:
                turns.unpark(group)

    def _live(self, entry: QueueEntry) -> bool:
        return self._entries.get(entry.job_id) is entry

    async def remove(self, entries: Sequence[QueueEntry]) -> None:
        for entry in entries:
            self._entries.pop(entry.job_id, None)

    async def promote_due(self, now: float) -> dict[str, int]:
        promoted: Counter[str] = Counter()
        while self._held and self._held[0][0] <= now:
            _, job_id, entry = heapq.heappop(self._held)
            if self._entries.get(job_id) is entry:
                self._make_ready(entry)
                promoted[entry.job_type] += 1
        return dict(promoted)

    async def next_due(self) -> float | None:
        while self._held:
            run_at, job_id, entry = self._held[0]
            if self._entries.get(job_id) is entry:
                return run_at
            heapq.heappop(self._held)
        return None

    def _make_ready(self, entry: QueueEntry) -> None:
        turns = self._turns.get(entry.job_type)
        if turns is None and entry.group_key:
            # The type's first group: its ready entries take turns from now, the
            # ungrouped ones as the group "".
            turns = self._turns[entry.job_type] = Turns()
            for _, waiting in self._ready.pop(entry.job_type, []):
                if self._live(waiting):
                    turns.add(waiting)
        if turns is not None:
            turns.add(entry)
            return
        heap = self._ready.setdefault(entry.job_type, [])
        heapq.heappush(heap, (ready_key(entry.priority, entry.run_at, entry.job_id), entry))

    def _drop_stale(self, heap: list[tuple[ReadyKey, QueueEntry]]) -> None:
        while heap and self._entries.get(heap[0][1].job_id) is not heap[0][1]:
            heapq.heappop(heap)
