"""The charts' minutes in a dict (one process)."""

from __future__ import annotations

from collections.abc import Sequence

from stackduck.application.history import MinuteCounts


class MemoryHistory:
    def __init__(self) -> None:
        self._minutes: dict[tuple[int, str], MinuteCounts] = {}

    async def add(self, minutes: Sequence[MinuteCounts]) -> None:
        for counts in minutes:
            kept = self._minutes.get((counts.minute, counts.job_type))
            if kept is None:
                kept = self._minutes[(counts.minute, counts.job_type)] = MinuteCounts(
                    counts.minute, counts.job_type
                )
            kept.add(counts)  # a copy: the caller's counts stay the caller's

    async def read(self, first: int, last: int, job_type: str | None) -> list[MinuteCounts]:
        found = [
            counts
            for (minute, kind), counts in self._minutes.items()
            if first <= minute <= last and (job_type is None or kind == job_type)
        ]
        return sorted(found, key=lambda c: (c.minute, c.job_type))

    async def prune(self, before: int) -> int:
        old = [key for key in self._minutes if key[0] < before]
        for key in old:
            del self._minutes[key]
        return len(old)
