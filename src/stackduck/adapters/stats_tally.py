"""Counting jobs into per-type stats, for stores that add them up themselves."""

from __future__ import annotations

from dataclasses import dataclass, field

from stackduck.application.ports import TypeStats


@dataclass(slots=True)
class Counts:
    """One job type's counts while a store adds them up: ``TypeStats``' fields."""

    ready_by_priority: list[int] = field(default_factory=lambda: [0, 0, 0])  # priorities 1, 2, 3
    scheduled: int = 0
    running: int = 0
    dead: int = 0
    completed_recently: int = 0
    dead_recently: int = 0
    oldest_ready_at: float | None = None

    def stats(self, job_type: str) -> TypeStats:
        first, second, third = self.ready_by_priority
        return TypeStats(
            job_type=job_type,
            ready_by_priority=(first, second, third),
            scheduled=self.scheduled,
            running=self.running,
            dead=self.dead,
            completed_recently=self.completed_recently,
            dead_recently=self.dead_recently,
            oldest_ready_at=self.oldest_ready_at,
        )


class StatsTally:
    """Stats from a walk over every job."""

    def __init__(self, now: float, since: float) -> None:
        self._now = now
        self._since = since
        self._counts: dict[str, Counts] = {}

    def add(
        self, job_type: str, status: str, priority: int, run_at: float, completed_at: float | None
    ) -> None:
        counts = self._counts.get(job_type)
        if counts is None:
            counts = self._counts[job_type] = Counts()
        if status == "queued":
            if run_at <= self._now:
                counts.ready_by_priority[priority - 1] += 1
                if counts.oldest_ready_at is None or run_at < counts.oldest_ready_at:
                    counts.oldest_ready_at = run_at
            else:
                counts.scheduled += 1
        elif status == "running":
            counts.running += 1
        elif status == "failed":
            counts.dead += 1
        if completed_at is not None and completed_at > self._since:
            if status == "completed":
                counts.completed_recently += 1
            elif status == "failed":
                counts.dead_recently += 1

    def result(self) -> list[TypeStats]:
        return [counts.stats(job_type) for job_type, counts in sorted(self._counts.items())]
