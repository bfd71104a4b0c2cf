"""What operators ask of a running server: listings, stats, pauses, workers, bulk repairs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from stackduck.client.jobs import JobInfo, JobPage
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb


@dataclass(frozen=True, slots=True)
class QueueInfo:
    job_type: str
    ready: tuple[int, int, int]  # due now, by priority 1, 2, 3
    scheduled: int
    running: int
    dead: int
    completed_last_minute: int
    dead_last_minute: int
    failure_rate: float
    paused: bool

    @classmethod
    def from_pb(cls, q: pb.QueueStats) -> QueueInfo:
        return cls(
            q.job_type,
            (q.ready_high, q.ready_normal, q.ready_low),
            q.scheduled,
            q.running,
            q.dead,
            q.completed_last_minute,
            q.dead_last_minute,
            q.failure_rate,
            q.paused,
        )


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    worker_id: str
    job_types: tuple[str, ...]
    max_in_flight: int
    in_flight: tuple[str, ...]
    connected_at: datetime | None
    last_seen_at: datetime | None
    peer: str

    @classmethod
    def from_pb(cls, w: pb.WorkerInfo) -> WorkerInfo:
        return cls(
            w.worker_id,
            tuple(w.job_types),
            w.max_in_flight,
            tuple(w.in_flight_job_ids),
            _time(w.connected_at),
            _time(w.last_seen_at),
            w.peer,
        )


def _time(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def selection(job_ids: tuple[str, ...], job_type: str | None, everything: bool) -> pb.DeadLetterSelection:
    return pb.DeadLetterSelection(job_ids=list(job_ids), job_type=job_type or "", all=everything)


class _Caller(Protocol):
    async def _call(self, rpc: str, request: Any, job_id: str = "") -> Any: ...


class OperatorCalls:
    """Mixed into :class:`AsyncClient` (which makes the calls): the management RPCs."""

    async def list_jobs(
        self: _Caller,
        job_type: str | None = None,
        status: str | None = None,
        *,
        limit: int = 100,
        page_token: str | None = None,
    ) -> JobPage:
        """One page of jobs in id order, of a type and/or a status (queued, running, ...)."""
        request = pb.ListJobsRequest(
            job_type=job_type or "", status=status or "", limit=limit, page_token=page_token or ""
        )
        reply = await self._call("ListJobs", request)
        return JobPage(tuple(JobInfo.from_pb(j) for j in reply.jobs), reply.next_page_token or None)

    async def queue_stats(self: _Caller, job_type: str | None = None) -> list[QueueInfo]:
        reply = await self._call("QueueStats", pb.QueueStatsRequest(job_type=job_type or ""))
        return [QueueInfo.from_pb(q) for q in reply.queues]

    async def pause(self: _Caller, job_type: str) -> None:
        """The type keeps accepting jobs and delivers none until resumed."""
        await self._call("PauseQueue", pb.PauseQueueRequest(job_type=job_type))

    async def resume(self: _Caller, job_type: str) -> None:
        await self._call("ResumeQueue", pb.PauseQueueRequest(job_type=job_type))

    async def workers(self: _Caller) -> list[WorkerInfo]:
        """The streams open on the server instance this client reaches."""
        reply = await self._call("ListWorkers", pb.ListWorkersRequest())
        return [WorkerInfo.from_pb(w) for w in reply.workers]

    async def requeue_dead_letters(
        self: _Caller, job_ids: tuple[str, ...] = (), *, job_type: str | None = None, everything: bool = False
    ) -> int:
        """Re-queue dead letters: these ids, or every one of a type, or all; returns how many."""
        reply = await self._call("RequeueDeadLetters", selection(job_ids, job_type, everything))
        return int(reply.count)

    async def purge_dead_letters(
        self: _Caller, job_ids: tuple[str, ...] = (), *, job_type: str | None = None, everything: bool = False
    ) -> int:
        """Delete dead letters for good: these ids, or every one of a type, or all; returns how many."""
        reply = await self._call("PurgeDeadLetters", selection(job_ids, job_type, everything))
        return int(reply.count)
