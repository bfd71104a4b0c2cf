"""The Metrics port to several counters at once (Prometheus, the charts' history)."""

from __future__ import annotations

from collections.abc import Sequence

from stackduck.application.ports import Metrics
from stackduck.domain.job import Job


class MetricsFanOut:
    def __init__(self, *counters: Metrics) -> None:
        self._counters = counters

    def enqueued(self, jobs: Sequence[Job]) -> None:
        for counter in self._counters:
            counter.enqueued(jobs)

    def delivered(self, jobs: Sequence[Job], now: float) -> None:
        for counter in self._counters:
            counter.delivered(jobs, now)

    def completed(self, jobs: Sequence[Job], now: float) -> None:
        for counter in self._counters:
            counter.completed(jobs, now)

    def failed(self, jobs: Sequence[Job], now: float) -> None:
        for counter in self._counters:
            counter.failed(jobs, now)

    def streams_open(self, count: int) -> None:
        for counter in self._counters:
            counter.streams_open(count)

    def claimed(self, asked: int, leased: int) -> None:
        for counter in self._counters:
            counter.claimed(asked, leased)
