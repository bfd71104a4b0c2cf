"""The soak's load: seed-style clients in processes of their own.

Producers send one unary ``EnqueueJob`` at a time on a steady schedule; workers hold
``ConsumeJobs`` streams (one job a message) and answer each job with ``CompleteJob``,
or — a fixed share of first attempts, chosen by the job's id — with ``FailJob``, so the
job comes back after its retry delay. Each process reports the ids it saw
acknowledged, so that the bench can account for every job at the end.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier, Event
from typing import Any

import grpc

from stackduck.entrypoints.bench.load import Counter, Outbox, payload
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub

CALL_SECONDS = 30.0  # no call of the load waits longer than this
MAX_RETRIES = 3  # a job failed on purpose fails once: it is completed at its second attempt


@dataclass(frozen=True)
class SoakProducerPlan:
    address: str
    job_type: str
    rate: float  # jobs/s from this process
    seconds: float
    payload_bytes: int
    retry_delay: int  # seconds: the backoff base of every job (the first retry waits this long)


@dataclass(frozen=True)
class SoakWorkerPlan:
    address: str
    job_type: str
    worker_id: str
    in_flight: int
    fail_share: float  # of first attempts answered with FailJob (retry)


def fails_first(job_id: str, share: float) -> bool:
    """Whether this job's first attempt is answered with FailJob: a share of all jobs,
    chosen by id, so a job is failed on purpose once at most."""
    return zlib.crc32(job_id.encode()) % 10_000 < share * 10_000


def run_soak_producer(plan: SoakProducerPlan, go: Barrier, outbox: Outbox) -> None:
    outbox.put(asyncio.run(_produce(plan, go)))


async def _produce(plan: SoakProducerPlan, go: Barrier) -> dict[str, Any]:
    acknowledged: list[str] = []
    errors: list[str] = []
    body = payload(plan.payload_bytes)

    async def send(stub: StackDuckServiceStub) -> None:
        request = pb.EnqueueJobRequest(
            job_type=plan.job_type, payload=body, delay=plan.retry_delay, max_retries=MAX_RETRIES
        )
        try:
            reply = await stub.EnqueueJob(request, timeout=CALL_SECONDS)
        except grpc.aio.AioRpcError as exc:
            errors.append(f"{exc.code().name}: {exc.details()}")
            return
        acknowledged.append(reply.job_id)

    async with grpc.aio.insecure_channel(plan.address) as channel:
        stub = StackDuckServiceStub(channel)
        await channel.channel_ready()
        await asyncio.to_thread(go.wait)  # every producer, and the bench's clock, start together
        loop = asyncio.get_running_loop()
        start = loop.time()
        pending: set[asyncio.Future[None]] = set()
        for i in range(int(plan.rate * plan.seconds)):
            delay = start + i / plan.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(send(stub))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        took = loop.time() - start
    return {"acknowledged": acknowledged, "errors": errors, "seconds": took}


def run_soak_worker(plan: SoakWorkerPlan, stop: Event, done: Counter, outbox: Outbox) -> None:
    outbox.put(asyncio.run(_work(plan, stop, done)))


async def _work(plan: SoakWorkerPlan, stop: Event, done: Counter) -> dict[str, Any]:
    seen: dict[str, list[Any]] = {"completed": [], "failed": [], "errors": [], "stream_ends": []}
    async with grpc.aio.insecure_channel(plan.address) as channel:
        stub = StackDuckServiceStub(channel)
        consuming = asyncio.ensure_future(_consume(stub, plan, done, seen))
        await asyncio.to_thread(stop.wait)
        consuming.cancel()
        await asyncio.gather(consuming, return_exceptions=True)
    return seen


async def _consume(
    stub: StackDuckServiceStub, plan: SoakWorkerPlan, done: Counter, seen: dict[str, list[Any]]
) -> None:
    """Answer every job delivered; open the stream again if it ends."""
    answers: set[asyncio.Future[None]] = set()
    request = pb.ConsumeJobsRequest(
        worker_id=plan.worker_id, job_types=[plan.job_type], max_in_flight=plan.in_flight
    )
    while True:
        stream = stub.ConsumeJobs(request)
        try:
            async for message in stream:
                task = asyncio.ensure_future(_answer(stub, plan, message.job, done, seen))
                answers.add(task)
                task.add_done_callback(answers.discard)
            seen["stream_ends"].append("the stream ended")
        except grpc.aio.AioRpcError as exc:
            seen["stream_ends"].append(f"{exc.code().name}: {exc.details()}")
        finally:
            stream.cancel()
        await asyncio.sleep(0.2)


async def _answer(
    stub: StackDuckServiceStub, plan: SoakWorkerPlan, job: pb.Job, done: Counter, seen: dict[str, list[Any]]
) -> None:
    try:
        if job.lease_token == 1 and fails_first(job.id, plan.fail_share):
            failure = pb.FailJobRequest(
                job_id=job.id, lease_token=job.lease_token, worker_id=plan.worker_id, error_message="soak"
            )
            await stub.FailJob(failure, timeout=CALL_SECONDS)
            seen["failed"].append(job.id)
            return
        completion = pb.CompleteJobRequest(
            job_id=job.id, lease_token=job.lease_token, worker_id=plan.worker_id
        )
        await stub.CompleteJob(completion, timeout=CALL_SECONDS)
    except grpc.aio.AioRpcError as exc:
        seen["errors"].append(f"{job.id}: {exc.code().name}: {exc.details()}")
        return
    seen["completed"].append(job.id)
    with done.get_lock():
        done.value += 1
