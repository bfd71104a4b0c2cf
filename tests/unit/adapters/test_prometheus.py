"""The Prometheus metrics count each job under its own type, however a batch mixes them."""

from __future__ import annotations

from stackduck.adapters.prometheus import PrometheusMetrics
from stackduck.application.consumers import ConsumerRegistry
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
    consumers = ConsumerRegistry(metrics)

    def gauge() -> float | None:
        return metrics.registry.get_sample_value("stackduck_workers_connected")

    first = consumers.open("w1", ["a"], 1, "host", NOW)
    consumers.open("w2", ["b"], 1, "host", NOW)
    assert gauge() == 2
    consumers.close(first)
    assert gauge() == 1
