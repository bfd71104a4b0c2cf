"""The floor for one-job-at-a-time clients: a bare grpc.aio server with Stackduck's RPC
shapes that does no work, a queue in this process standing for storage.

It serves what the seed clients send (EnqueueJob, ConsumeJobs one job a message,
CompleteJob) and what the bench's workers ask to see their streams open (ListWorkers).
A job is a message put on a queue per job type; a stream takes from it, holding no
more than its ``max_in_flight`` unanswered; CompleteJob frees the slot. No ids are
checked, no lease kept, nothing written: what the seed path costs beyond this is
Stackduck's own work, storage included. Hosted like the benchmarked server when that
runs in the bench's process, and driven by the same load processes, so a run gives the
seed path's rate as a share of this one on the same machine at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import grpc

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import (
    StackDuckServiceServicer,
    add_StackDuckServiceServicer_to_server,
)

Context = grpc.aio.ServicerContext[Any, Any]


class FloorServicer(StackDuckServiceServicer):  # type: ignore[misc]  # the generated base is untyped
    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[pb.Job]] = {}
        self._held: dict[str, asyncio.Semaphore] = {}  # job id → its stream's free slots
        self._streams: dict[str, pb.WorkerInfo] = {}
        self._ids = itertools.count(1)

    def _queue(self, job_type: str) -> asyncio.Queue[pb.Job]:
        return self._queues.setdefault(job_type, asyncio.Queue())

    async def EnqueueJob(self, request: pb.EnqueueJobRequest, context: Context) -> pb.EnqueueJobResponse:
        job_id = f"floor-{next(self._ids)}"
        job = pb.Job(
            id=job_id, job_type=request.job_type, payload=request.payload, status="running", lease_token=1
        )
        self._queue(request.job_type).put_nowait(job)
        return pb.EnqueueJobResponse(job_id=job_id, success=True)

    async def ConsumeJobs(
        self, request: pb.ConsumeJobsRequest, context: Context
    ) -> AsyncIterator[pb.JobMessage]:
        queue = self._queue(request.job_types[0])
        slots = asyncio.Semaphore(request.max_in_flight or 1)
        self._streams[request.worker_id] = pb.WorkerInfo(
            worker_id=request.worker_id, job_types=request.job_types, max_in_flight=request.max_in_flight
        )
        try:
            while True:
                await slots.acquire()
                job = await queue.get()
                self._held[job.id] = slots
                try:
                    yield pb.JobMessage(job=job, notification_type="job_ready")
                except BaseException:
                    self._held.pop(job.id, None)
                    queue.put_nowait(job)  # not sent: another stream takes it
                    raise
        finally:
            self._streams.pop(request.worker_id, None)

    async def CompleteJob(self, request: pb.CompleteJobRequest, context: Context) -> pb.CompleteJobResponse:
        slots = self._held.pop(request.job_id, None)
        if slots is not None:
            slots.release()
        return pb.CompleteJobResponse(success=True)

    async def ListWorkers(self, request: pb.ListWorkersRequest, context: Context) -> pb.ListWorkersResponse:
        return pb.ListWorkersResponse(workers=list(self._streams.values()))


@contextlib.asynccontextmanager
async def floor_server() -> AsyncIterator[str]:
    """The floor served on a free port of 127.0.0.1; yields its address."""
    server = grpc.aio.server()
    add_StackDuckServiceServicer_to_server(FloorServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)
