"""The knobs the use-cases follow, as plain values (the container fills them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from stackduck.domain.retry import RetryPolicy
from stackduck.domain.rules import DEFAULT_MAX_PAYLOAD_BYTES


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    lease_seconds: float = 300.0
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Longest an idle consumer sleeps without a wake-up before it looks again
    #: (a safety net only: wake-ups are pushed).
    idle_recheck_seconds: float = 5.0
    #: ConsumeJobs streams one client (host) may hold open at once.
    max_streams_per_client: int = 2000
    #: How long completed and cancelled jobs are kept; dead letters: 0 = until purged.
    completed_retention_seconds: float = 24 * 3600.0
    dead_retention_seconds: float = 0.0
    #: Run time per attempt for jobs enqueued without one; 0 = no limit.
    job_timeout_seconds: float = 0.0
    #: How long an idempotency key keeps naming its job at least (longer while the
    #: job is kept).
    idempotency_seconds: float = 24 * 3600.0
    #: WatchJob streams one server serves at once.
    max_watch_streams: int = 1000
    #: Longest a watcher waits without news before it reads its job again (a safety
    #: net only: changes are pushed).
    watch_recheck_seconds: float = 5.0
