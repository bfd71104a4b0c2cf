"""Heartbeats: how often, and the loop that keeps one delivered job leased; and how
long a delivered attempt may run, by the worker's own clock."""

from __future__ import annotations

import asyncio
import logging
import time

from stackduck.client.async_client import AsyncClient
from stackduck.client.jobs import JobInfo
from stackduck.domain.errors import StackduckError, StorageUnavailable

log = logging.getLogger("stackduck.worker")

#: Never heartbeat more often than this (a lease shorter than the clocks' resolution).
MIN_INTERVAL_SECONDS = 0.1


def heartbeat_interval(job: JobInfo, now: float) -> float:
    """A third of the job's lease. The lease is read off the delivered job twice:
    ``lease_expires_at - now`` (the client's clock) and ``lease_expires_at -
    started_at`` (the server's clock alone, immune to skew between the two); the
    shorter wins, so neither a slow clock nor whole-second rounding on the wire can
    let the lease run out between two heartbeats."""
    if job.lease_expires_at is None:
        return MIN_INTERVAL_SECONDS
    expires = job.lease_expires_at.timestamp()
    spans = [expires - now]
    if job.started_at is not None:
        spans.append(expires - job.started_at.timestamp())
    lease = min((span for span in spans if span > 0), default=0.0)
    return max(lease / 3, MIN_INTERVAL_SECONDS)


def attempt_time_left(job: JobInfo, now: float) -> float | None:
    """Seconds the just-delivered attempt may still run, for the worker's own timer (a
    stand-in for a stop message that never comes); None when it has no deadline. The
    job's ``timeout``, counted from delivery, when the job names one: the server started
    that clock a little earlier, so the timer never fires before the server's deadline,
    whatever the two clocks say. Otherwise (the server's default timeout)
    ``attempt_deadline - now`` by the client's clock."""
    if job.attempt_deadline is None:
        return None
    if job.timeout is not None:
        return job.timeout
    return max(job.attempt_deadline.timestamp() - now, 0.0)


async def keep_leased(client: AsyncClient, job: JobInfo, worker_id: str) -> None:
    """Heartbeat every third of the lease until cancelled, or until the server says
    the lease is no longer this worker's (then answering is pointless too)."""
    interval = heartbeat_interval(job, time.time())
    while True:
        await asyncio.sleep(interval)
        try:
            await client.heartbeat(job, worker_id)
        except StorageUnavailable as exc:  # try again at the next beat; the lease may hold
            log.warning("job %s: heartbeat not delivered (%s)", job.id, exc)
        except StackduckError as exc:
            log.warning("job %s: lease lost, no more heartbeats: %s", job.id, exc)
            return
