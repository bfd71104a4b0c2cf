"""Following one job: ``watch`` streams its changes, ``result`` waits for its end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any, Protocol

import grpc

from stackduck.client.backoff import Backoff
from stackduck.client.channel import Transport
from stackduck.client.errors import JobCancelled, JobFailed, error_from
from stackduck.client.jobs import JobEvent, JobInfo, JobStatus
from stackduck.domain.errors import StorageUnavailable
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb

log = logging.getLogger("stackduck.client")

#: The longest wait between two attempts to watch again while the server is away.
MAX_REWATCH_SECONDS = 5.0


class _Streamer(Protocol):
    @property
    def stub(self) -> Any: ...

    @property
    def _metadata(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def transport(self) -> Transport: ...

    def watch(self, job_id: str) -> AsyncGenerator[JobEvent, None]: ...


class WatchCalls:
    """Mixed into :class:`AsyncClient` (which holds the channel): WatchJob and what
    is built on it."""

    async def watch(self: _Streamer, job_id: str) -> AsyncGenerator[JobEvent, None]:
        """The WatchJob stream: the job as it is now, then after each change (changes in
        quick succession may come as one event with the latest state), until its last
        state (completed, failed, cancelled), after which the iteration ends.
        :class:`JobNotFound` for an unknown id; :class:`StorageUnavailable` when the
        server goes away meanwhile (watch again: the first event re-reads the job).
        Leaving the loop early closes the stream."""
        call = self.stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=self._metadata)
        try:
            async for message in call:
                yield JobEvent(JobInfo.from_pb(message.job))
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc, job_id, self.transport) from exc
        finally:
            call.cancel()

    async def result(
        self: _Streamer,
        job_id: str,
        timeout: float | timedelta | None = None,  # noqa: ASYNC109 - a wait, not a call's deadline
    ) -> Any:
        """Wait until the job ends and return its result (parsed from JSON; None when
        it has none). :class:`JobFailed` (its message the job's last error, ``.job`` the
        job) when it was dead-lettered, :class:`JobCancelled` when it was cancelled,
        ``TimeoutError`` once ``timeout`` seconds have passed (None: wait as long as it
        takes), :class:`JobNotFound` for an unknown id. It watches the job (no polling);
        when the server goes away (UNAVAILABLE: a restart, a rolling upgrade) it watches
        again with capped backoff, within the same ``timeout``."""
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        async with asyncio.timeout(seconds):
            job = await _last_state(self, job_id)
        if job.status is JobStatus.COMPLETED:
            return job.result
        if job.status is JobStatus.FAILED:
            raise JobFailed(job)
        raise JobCancelled(job)


async def _last_state(client: _Streamer, job_id: str) -> JobInfo:
    """The job as it ended, watched again for as long as the server is away."""
    backoff = Backoff(0.1, MAX_REWATCH_SECONDS)
    while True:
        try:
            async with contextlib.aclosing(client.watch(job_id)) as events:
                async for event in events:
                    backoff.reset()
                    if event.last:
                        return event.job
            reason = "the stream ended before the job did"
        except StorageUnavailable as exc:
            reason = str(exc)
        wait = backoff.next()
        log.info("watching job %s again in %.2f s: %s", job_id, wait, reason)
        await asyncio.sleep(wait)
