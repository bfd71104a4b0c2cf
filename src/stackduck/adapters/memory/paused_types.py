"""Paused job types, in this process."""

from __future__ import annotations


class MemoryPausedTypes:
    def __init__(self) -> None:
        self._paused: set[str] = set()

    async def paused(self) -> frozenset[str]:
        return frozenset(self._paused)

    async def set_paused(self, job_type: str, paused: bool) -> None:
        if paused:
            self._paused.add(job_type)
        else:
            self._paused.discard(job_type)
