"""The Prometheus metrics count each job under its own type, however a batch mixes them."""

from __future__ import annotations

from stackduck.adapters.memory import MemorySignals
from stackduck.adapters.prometheus import OTHER, PrometheusMetrics, PrometheusPage
from stackduck.application.consumers import ConsumerRegistry
from stackduck.application.ports import TypeStats
from stackduck.application.queue_admin import QueueView
from stackduck.domain.job import Job, JobSpec

NOW = 1_000.0


def _job(job_type: str, n: int, started: bool) -> Job:
    job = Job.new(f"id-{job_type}-{n}", JobSpec(job_type, "{}", 2, 0, 0, NOW - n), NOW - n)
    if started:
        job.start("w", NOW - n, 30)
    return job


def _sample(metrics: PrometheusMetrics, name: str, job_type: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"job_type": job_type})


def test_wait_and_run_times_are_observed_per_job_under_its_type() -> None:
    metrics = PrometheusMetrics()
    jobs = [_job("a", 1, True), _job("b", 2, True), _job("a", 3, True), _job("b", 4, False)]

    metrics.delivered(jobs, NOW)
    metrics.completed(jobs, NOW + 1)

    assert _sample(metrics, "stackduck_job_wait_seconds_count", "a") == 2
    assert _sample(metrics, "stackduck_job_wait_seconds_sum", "a") == 1 + 3
    assert _sample(metrics, "stackduck_job_wait_seconds_count", "b") == 2
    # A job never started has no run time to observe; it is still counted as completed.
    assert _sample(metrics, "stackduck_job_run_seconds_count", "b") == 1
    assert _sample(metrics, "stackduck_job_run_seconds_sum", "b") == 1 + 2
    assert _sample(metrics, "stackduck_jobs_completed_total", "b") == 2


def test_open_streams_are_counted_as_they_open_and_close() -> None:
    metrics = PrometheusMetrics()
    consumers = ConsumerRegistry(metrics, MemorySignals())

    def gauge() -> float | None:
        return metrics.registry.get_sample_value("stackduck_workers_connected")

    first = consumers.open("w1", ["a"], 1, "host", NOW)
    consumers.open("w2", ["b"], 1, "host", NOW)
    assert gauge() == 2
    consumers.close(first)
    assert gauge() == 1


def test_job_types_past_the_label_limit_are_counted_together_as_other() -> None:
    metrics = PrometheusMetrics(max_type_labels=3)
    jobs = [_job(f"t{n}", n, True) for n in range(1, 7)]

    metrics.enqueued(jobs)
    metrics.enqueued([_job("t5", 9, False), _job("t1", 9, False)])
    metrics.delivered(jobs, NOW)

    counted = {
        sample.labels["job_type"]: sample.value
        for metric in metrics.registry.collect()
        if metric.name == "stackduck_jobs_enqueued"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert counted == {"t1": 2, "t2": 1, "t3": 1, OTHER: 4}
    assert _sample(metrics, "stackduck_job_wait_seconds_count", OTHER) == 3
    assert _sample(metrics, "stackduck_job_wait_seconds_count", "t4") is None


class _Queues:
    """The queue views a scrape reads (what QueueAdmin.queues returns)."""

    def __init__(self, *views: QueueView) -> None:
        self._views = list(views)

    async def queues(self) -> list[QueueView]:
        return self._views


class _Up:
    async def check(self) -> dict[str, bool]:
        return {"memory": True}


async def test_queue_gauges_past_the_label_limit_are_summed_as_other() -> None:
    metrics = PrometheusMetrics(max_type_labels=2)
    views = [
        QueueView(
            TypeStats(
                job_type=f"q{n}",
                ready_by_priority=(n, 0, 1),
                scheduled=1,
                running=n,
                dead=0,
                completed_recently=0,
                dead_recently=0,
            ),
            paused=n == 4,
        )
        for n in range(1, 5)
    ]
    page = PrometheusPage(metrics, _Queues(*views), _Up())  # type: ignore[arg-type]

    body, _ = await page.render()

    text = body.decode()
    assert 'stackduck_queue_ready{job_type="q1",priority="1"} 1.0' in text
    assert 'stackduck_queue_ready{job_type="q2",priority="1"} 2.0' in text
    assert f'stackduck_queue_ready{{job_type="{OTHER}",priority="1"}} 7.0' in text
    assert f'stackduck_queue_running{{job_type="{OTHER}"}} 7.0' in text
    assert f'stackduck_queue_paused{{job_type="{OTHER}"}} 1.0' in text
    assert 'job_type="q3"' not in text and 'job_type="q4"' not in text


def test_claims_are_counted_by_outcome_with_the_jobs_asked_and_leased() -> None:
    metrics = PrometheusMetrics()
    metrics.claimed(5, 5)
    metrics.claimed(5, 2)
    metrics.claimed(3, 0)
    metrics.claimed(4, 4)

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("stackduck_claims_total", outcome="full") == 2
    assert sample("stackduck_claims_total", outcome="partial") == 1
    assert sample("stackduck_claims_total", outcome="empty") == 1
    assert sample("stackduck_claim_jobs_total", kind="asked") == 17
    assert sample("stackduck_claim_jobs_total", kind="leased") == 11
