"""JSON shapes of what the dashboard shows."""

from __future__ import annotations

import json
from typing import Any

from stackduck.application.consumers import Consumer
from stackduck.application.history import PERCENTILES, Chart
from stackduck.application.limits import LimitUsage
from stackduck.application.queue_admin import QueueView
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.schedule import Schedule


def job(item: Job) -> dict[str, Any]:
    return {
        "id": item.id,
        "job_type": item.job_type,
        "payload": item.payload,
        "status": item.status.value,
        "priority": item.priority,
        "retry_count": item.retry_count,
        "max_retries": item.max_retries,
        "attempt": item.attempt,
        "error_message": item.error_message,
        "run_at": item.run_at,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "started_at": item.started_at,
        "completed_at": item.completed_at,
        "worker_id": item.lease_owner,
        "lease_expires_at": item.lease_expires_at,
        # The fencing token of a running job's lease (answers naming another are refused).
        "lease_token": item.lease_token if item.status is JobStatus.RUNNING else None,
        "result": item.result,  # the JSON text CompleteJob sent, or null
        "metadata": json.loads(item.metadata) if item.metadata else {},
        "timeout": item.timeout or None,  # seconds per attempt; null: no limit
        "attempt_deadline": item.attempt_deadline,
        "attempts": [attempt.as_dict() for attempt in item.attempts],
        "group": item.group_key or None,
    }


#: What a listing leaves out: /api/jobs/{id} has the whole job.
UNLISTED = ("payload", "result", "metadata", "attempts")


def listed(item: Job) -> dict[str, Any]:
    """A job as the dashboard lists it (jobs, dead letters): without its payload, result,
    metadata and attempts."""
    listed = job(item)
    for name in UNLISTED:
        del listed[name]
    return listed


def queue(view: QueueView) -> dict[str, Any]:
    stats = view.stats
    return {
        "job_type": stats.job_type,
        "ready": list(stats.ready_by_priority),
        "scheduled": stats.scheduled,
        "running": stats.running,
        "dead": stats.dead,
        "completed_last_minute": stats.completed_recently,
        "dead_last_minute": stats.dead_recently,
        "failure_rate": stats.failure_rate,
        "oldest_ready_at": stats.oldest_ready_at,  # when the longest-waiting due job fell due
        "paused": view.paused,
    }


def worker(consumer: Consumer) -> dict[str, Any]:
    return {
        "worker_id": consumer.worker_id,
        "job_types": sorted(consumer.job_types),
        "max_in_flight": consumer.max_in_flight,
        "in_flight": sorted(consumer.held),
        "connected_at": consumer.connected_at,
        "last_seen": consumer.last_seen,
        "client": consumer.client,
    }


def schedule(item: Schedule) -> dict[str, Any]:
    """A schedule as the dashboard shows it: its rule in words, its next and last run."""
    return {
        "name": item.name,
        "job_type": item.job_type,
        "rule": item.rule.describe(),
        "cron": item.rule.cron or None,
        "every": item.rule.every or None,
        "timezone": item.rule.timezone,
        "catch_up": item.catch_up,
        "paused": item.paused,
        "next_run": None if item.paused else item.next_due,
        "last_run": item.last_run,
        "group": item.group_key or None,
    }


def limit(usage: LimitUsage) -> dict[str, Any]:
    """A job type's limit as the dashboard shows it, with the type's running jobs and its
    bucket's tokens now; null where the type has no such limit."""
    item = usage.limit
    return {
        "job_type": item.job_type,
        "concurrency": item.concurrency or None,
        "rate": item.rate or None,
        "per": item.per,
        "burst": int(item.bucket_size) if item.rate else None,
        "running": usage.running,
        "tokens": usage.tokens,
        "group_concurrency": item.group_concurrency or None,
    }


def chart(item: Chart) -> dict[str, Any]:
    """The charts' points: counts per point, the queue as last sampled in it, and run-time
    percentiles (seconds; a bucket's upper bound, null past the last bound or with no runs)."""
    names = [f"run_p{round(q * 100)}" for q in PERCENTILES]
    return {
        "step": item.step,
        "job_types": item.job_types,
        "points": [
            {
                "at": point.at,
                "enqueued": point.enqueued,
                "completed": point.completed,
                "retried": point.retried,
                "dead": point.dead,
                "depth": point.depth,
                "oldest_wait": point.oldest_wait,
                **{
                    name: None if value is None or value == float("inf") else value
                    for name, value in zip(names, point.run_percentiles, strict=True)
                },
            }
            for point in item.points
        ],
    }
