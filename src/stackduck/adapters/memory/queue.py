"""The ready queue in heaps: one per job type for ready jobs, one for held jobs.

Heap items are never removed in place: a job's live entry is the one in
``_entries``; any other item for it is stale and skipped when it surfaces.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Sequence

from stackduck.application.ports import QueueEntry
from stackduck.domain.priority import ReadyKey, ready_key


class MemoryReadyQueue:
    def __init__(self) -> None:
        self._entries: dict[str, QueueEntry] = {}
        self._ready: dict[str, list[tuple[ReadyKey, QueueEntry]]] = {}
        self._held: list[tuple[float, str, QueueEntry]] = []

    async def push(self, entries: Sequence[QueueEntry], now: float) -> None:
        for entry in entries:
            self._entries[entry.job_id] = entry
            if entry.run_at <= now:
                self._make_ready(entry)
            else:
                heapq.heappush(self._held, (entry.run_at, entry.job_id, entry))

    async def pop(self, job_types: Collection[str], now: float, limit: int) -> list[QueueEntry]:
        heaps = [heap for t in job_types if (heap := self._ready.get(t))]
        taken: list[QueueEntry] = []
        while heaps and len(taken) < limit:
            best = None
            for heap in heaps:
                self._drop_stale(heap)
                if heap and (best is None or heap[0][0] < best[0][0]):
                    best = heap
            if best is None:
                break
            _, entry = heapq.heappop(best)
            del self._entries[entry.job_id]
            taken.append(entry)
        return taken

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
        heap = self._ready.setdefault(entry.job_type, [])
        heapq.heappush(heap, (ready_key(entry.priority, entry.run_at, entry.job_id), entry))

    def _drop_stale(self, heap: list[tuple[ReadyKey, QueueEntry]]) -> None:
        while heap and self._entries.get(heap[0][1].job_id) is not heap[0][1]:
            heapq.heappop(heap)
