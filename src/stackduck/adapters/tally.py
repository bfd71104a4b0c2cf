"""Counting jobs into per-type stats, for stores that walk their jobs to answer."""

from __future__ import annotations

from stackduck.application.ports import TypeStats


class StatsTally:
    def __init__(self, now: float, since: float) -> None:
        self._now = now
        self._since = since
        self._rows: dict[str, list[int]] = {}

    def add(
        self, job_type: str, status: str, priority: int, run_at: float, completed_at: float | None
    ) -> None:
        row = self._rows.setdefault(job_type, [0] * 8)
        if status == "queued":
            row[priority - 1 if run_at <= self._now else 3] += 1
        elif status == "running":
            row[4] += 1
        elif status == "failed":
            row[5] += 1
        if completed_at is not None and completed_at > self._since and status in ("completed", "failed"):
            row[6 if status == "completed" else 7] += 1

    def result(self) -> list[TypeStats]:
        return [
            TypeStats(job_type, (r[0], r[1], r[2]), r[3], r[4], r[5], r[6], r[7])
            for job_type, r in sorted(self._rows.items())
        ]
