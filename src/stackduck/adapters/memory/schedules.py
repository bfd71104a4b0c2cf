"""Periodic schedules in a dict, beside the memory job store (one process)."""

from __future__ import annotations

from stackduck.adapters.memory.store import MemoryJobStore
from stackduck.application.schedules import Fire
from stackduck.domain.schedule import Schedule


class MemorySchedules:
    def __init__(self, store: MemoryJobStore) -> None:
        self._store = store
        self._schedules: dict[str, Schedule] = {}

    async def get(self, name: str) -> Schedule | None:
        return self._schedules.get(name)

    async def read_all(self) -> list[Schedule]:
        return [self._schedules[name] for name in sorted(self._schedules)]

    async def put(self, schedule: Schedule, expected_version: int | None) -> bool:
        if not self._at(schedule.name, expected_version):
            return False
        self._schedules[schedule.name] = schedule
        return True

    async def delete(self, name: str) -> bool:
        return self._schedules.pop(name, None) is not None

    async def due(self, now: float, limit: int) -> list[Schedule]:
        due = [s for s in self._schedules.values() if not s.paused and s.next_due <= now]
        return sorted(due, key=lambda s: (s.next_due, s.name))[:limit]

    async def next_due(self) -> float | None:
        return min((s.next_due for s in self._schedules.values() if not s.paused), default=None)

    async def fire(self, fire: Fire, key_seconds: float) -> list[str] | None:
        # Checked, inserted and written with no await that suspends in between (the
        # memory store's insert never does): nothing else runs meanwhile.
        if not self._at(fire.schedule.name, fire.expected_version):
            return None
        holders = await self._store.insert(fire.jobs, key_seconds)
        self._schedules[fire.schedule.name] = fire.schedule
        return holders

    def _at(self, name: str, version: int | None) -> bool:
        current = self._schedules.get(name)
        return current is None if version is None else current is not None and current.version == version
