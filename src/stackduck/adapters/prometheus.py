"""Metrics in Prometheus form, with prometheus-client and a registry per server."""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from stackduck.application.ports import StorageHealth
from stackduck.application.queue_admin import QueueAdmin, QueueView
from stackduck.domain.errors import StorageUnavailable
from stackduck.domain.job import Job, JobStatus

WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
RUN_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)

#: prometheus-client's own variable (read when it is imported): where every process of a
#: server keeps its metrics, set by the supervisor of ``stackduck serve --processes N``.
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
TYPE = ["job_type"]
#: Job types with a label of their own, at most: each label is a series per metric, kept
#: for the life of the process (and by Prometheus). The types after them count as OTHER.
MAX_TYPE_LABELS = 1000
OTHER = "_other"

M = TypeVar("M", Counter, Histogram)


class PrometheusMetrics:
    """Counts what happens (the application's Metrics port), and renders the page."""

    def __init__(self, one_of_several: bool = False, max_type_labels: int = MAX_TYPE_LABELS) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.type_label = TypeLabels(max_type_labels)
        labels = self.type_label

        def counter(name: str, doc: str) -> _ByType[Counter]:
            return _ByType(Counter(f"stackduck_jobs_{name}", doc, ["job_type"], registry=r), labels)

        self._enqueued = counter("enqueued", "Jobs enqueued")
        self._delivered = counter("delivered", "Jobs leased to a worker")
        self._completed = counter("completed", "Jobs completed")
        self._failed = counter("failed", "Failed attempts (refused by the worker or lease expired)")
        self._retried = counter("retried", "Failed attempts queued again for a retry")
        self._dead = counter("dead_lettered", "Jobs dead-lettered")
        self._wait = _ByType(
            Histogram(
                "stackduck_job_wait_seconds",
                "From due to leased",
                ["job_type"],
                buckets=WAIT_BUCKETS,
                registry=r,
            ),
            labels,
        )
        self._run = _ByType(
            Histogram(
                "stackduck_job_run_seconds",
                "From leased to completed",
                ["job_type"],
                buckets=RUN_BUCKETS,
                registry=r,
            ),
            labels,
        )
        claims = Counter(
            "stackduck_claims",
            "Claims made of storage, by outcome: full (every job asked for), partial, empty",
            ["outcome"],
            registry=r,
        )
        # Every label's child made once: a seed client's claim is one job, so this is
        # counted per job.
        self._claims = {outcome: claims.labels(outcome) for outcome in ("full", "partial", "empty")}
        claim_jobs = Counter(
            "stackduck_claim_jobs", "Jobs the claims asked for (asked) and got (leased)", ["kind"], registry=r
        )
        self._asked, self._leased = claim_jobs.labels("asked"), claim_jobs.labels("leased")
        self._streams = Gauge(
            "stackduck_workers_connected",
            "Open ConsumeJobs streams (on every process of this server)",
            registry=r,
            multiprocess_mode="livesum",
        )
        # One of several server processes (``stackduck serve --processes N``): the values
        # live in files under prometheus-client's PROMETHEUS_MULTIPROC_DIR (set by the
        # supervisor before this process imported it), and the page shows every
        # process's, merged. A lone server shows its own, whatever that variable says.
        self.collector: Collector = self.registry
        if one_of_several:
            self.collector = CollectorRegistry()
            MultiProcessCollector(self.collector, os.environ[METRICS_DIR])  # type: ignore[no-untyped-call]

    # -- the Metrics port ------------------------------------------------------------

    def enqueued(self, jobs: Sequence[Job]) -> None:
        _count(self._enqueued, (job.job_type for job in jobs))

    def delivered(self, jobs: Sequence[Job], now: float) -> None:
        _count(self._delivered, (job.job_type for job in jobs))
        _observe(self._wait, ((job.job_type, now - job.run_at) for job in jobs))

    def completed(self, jobs: Sequence[Job], now: float) -> None:
        _count(self._completed, (job.job_type for job in jobs))
        _observe(
            self._run, ((job.job_type, now - job.started_at) for job in jobs if job.started_at is not None)
        )

    def failed(self, jobs: Sequence[Job], now: float) -> None:
        _count(self._failed, (job.job_type for job in jobs))
        _count(self._retried, (job.job_type for job in jobs if job.status is JobStatus.QUEUED))
        _count(self._dead, (job.job_type for job in jobs if job.status is JobStatus.FAILED))

    def streams_open(self, count: int) -> None:
        self._streams.set(count)

    def claimed(self, asked: int, leased: int) -> None:
        self._claims["empty" if not leased else "full" if leased >= asked else "partial"].inc()
        self._asked.inc(asked)
        self._leased.inc(leased)


class PrometheusPage:
    """The /metrics page: what was counted, and gauges read from the record at scrape time."""

    def __init__(self, metrics: PrometheusMetrics, queue_admin: QueueAdmin, health: StorageHealth) -> None:
        self._metrics = metrics
        self._queue_admin = queue_admin
        self._health = health

    async def render(self) -> tuple[bytes, str]:
        try:
            views = await self._queue_admin.queues()
        except StorageUnavailable:
            views = []  # the record is down: the health gauges below say so
        tiers = await self._health.check()
        snapshot = _Snapshot(views, tiers, self._metrics.type_label)
        return generate_latest(self._metrics.collector) + generate_latest(snapshot), CONTENT_TYPE_LATEST


class _Snapshot:
    """The queues and the storage tiers as read for one scrape (the same from whichever
    server process answers, so they are never kept in a metric)."""

    def __init__(self, views: Sequence[QueueView], tiers: Mapping[str, bool], labels: TypeLabels) -> None:
        self._views = views
        self._tiers = tiers
        self._labels = labels

    def collect(self) -> Iterable[Metric]:
        ready = GaugeMetricFamily("stackduck_queue_ready", "Due jobs waiting", labels=[*TYPE, "priority"])
        scheduled = GaugeMetricFamily("stackduck_queue_scheduled", "Jobs waiting for their time", labels=TYPE)
        running = GaugeMetricFamily("stackduck_queue_running", "Jobs leased to workers", labels=TYPE)
        dead = GaugeMetricFamily("stackduck_queue_dead", "Dead letters", labels=TYPE)
        paused = GaugeMetricFamily(
            "stackduck_queue_paused", "Paused job types (1 each while paused)", labels=TYPE
        )
        # Per label: ready by priority, scheduled, running, dead, paused (OTHER sums the rest).
        rows: dict[str, list[int]] = {}
        for view in self._views:
            stats = view.stats
            row = rows.setdefault(self._labels(stats.job_type), [0] * 7)
            values = (*stats.ready_by_priority, stats.scheduled, stats.running, stats.dead, int(view.paused))
            row[:] = [total + value for total, value in zip(row, values, strict=True)]
        for label, (high, normal, low, waiting, leased, letters, pauses) in rows.items():
            name = [label]
            for priority, count in enumerate((high, normal, low), start=1):
                ready.add_metric([*name, str(priority)], count)
            scheduled.add_metric(name, waiting)
            running.add_metric(name, leased)
            dead.add_metric(name, letters)
            paused.add_metric(name, pauses)
        up = GaugeMetricFamily(
            "stackduck_storage_up", "1 while the storage tier answers and serves", labels=["tier"]
        )
        for tier, answers in self._tiers.items():
            up.add_metric([tier], int(answers))
        degraded = GaugeMetricFamily(
            "stackduck_degraded",
            "1 while a storage tier is down and the server works around it",
            value=int(not all(self._tiers.values())),
        )
        return [ready, scheduled, running, dead, paused, up, degraded]


class TypeLabels:
    """The job_type label each job type is counted under: its own for the first
    ``limit`` types this process counts, OTHER for every type after them."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._own: set[str] = set()

    def __call__(self, job_type: str) -> str:
        if job_type in self._own:
            return job_type
        if len(self._own) < self._limit:
            self._own.add(job_type)
            return job_type
        return OTHER


class _ByType(Generic[M]):
    """A metric labelled by job type, each label's child looked up once for good
    (prometheus-client's ``labels()`` validates and takes a lock on every call: it cost
    more than the count or observation itself)."""

    def __init__(self, metric: M, labels: TypeLabels) -> None:
        self._metric: M = metric
        self._labels = labels
        self._children: dict[str, M] = {}

    def __call__(self, job_type: str) -> M:
        child = self._children.get(job_type)
        if child is None:  # a type seen first, or one of those counted as OTHER
            label = self._labels(job_type)
            child = self._children.get(label)
            if child is None:
                child = self._children[label] = self._metric.labels(label)
        return child


def _count(counter: _ByType[Counter], job_types: Iterable[str]) -> None:
    for job_type, n in Tally(job_types).items():
        counter(job_type).inc(n)


def _observe(histogram: _ByType[Histogram], samples: Iterable[tuple[str, float]]) -> None:
    for job_type, seconds in samples:
        histogram(job_type).observe(max(seconds, 0.0))
