"""The load: producer and worker processes, each with its own gRPC channel.

Each runs ``asyncio.run`` on one plan and reports through a multiprocessing
queue. They wait for the ``go`` event, so process start-up is never timed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier, Event
from typing import Any, Protocol

from grpc_health.v1 import health_pb2, health_pb2_grpc

from stackduck.client.channel import open_channel
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub


class Outbox(Protocol):
    def put(self, item: Any) -> None: ...


class Counter(Protocol):
    value: int

    def get_lock(self) -> Any: ...


@dataclass(frozen=True)
class ProducerPlan:
    address: str
    job_type: str
    count: int
    payload_bytes: int
    batch: int = 0  # 0 = one unary EnqueueJob per job
    concurrency: int = 16
    rate: float = 0.0  # jobs/s, 0 = as fast as it goes; paced runs stamp the send time
    floor: bool = False  # the gRPC floor: empty health Checks instead of jobs (nothing stored)
    extras: bool = False  # each job carries metadata (a trace context) and a timeout
    groups: int = 0  # jobs spread over this many fair-queue groups, in turn; 0 = none
    group_offset: int = 0  # where this producer starts in the groups' cycle

    def request(self, body: str) -> pb.EnqueueJobRequest:
        if not self.extras:
            return pb.EnqueueJobRequest(job_type=self.job_type, payload=body)
        return pb.EnqueueJobRequest(
            job_type=self.job_type, payload=body, metadata=EXTRA_METADATA, timeout_seconds=EXTRA_TIMEOUT
        )


@dataclass(frozen=True)
class WorkerPlan:
    address: str
    job_type: str
    in_flight: int
    batch: bool  # batched delivery and AckJobs; False = one job a message, unary CompleteJob
    worker_id: str
    streams: int = 1  # ConsumeJobs streams this process holds (ids worker_id-0, -1, ...)
    extras: bool = False  # completes each job with a result

    def completion(self, job: pb.Job) -> pb.CompleteJobRequest:
        result = EXTRA_RESULT if self.extras else None
        return pb.CompleteJobRequest(job_id=job.id, lease_token=job.lease_token, result=result)


#: What ``--extras`` jobs carry: a W3C trace context and a tenant, a timeout well past
#: any run here, and a small result.
EXTRA_METADATA = {
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "tenant": "bench",
}
EXTRA_TIMEOUT = 600.0
EXTRA_RESULT = '{"ok": true, "n": 1}'


def payload(size: int) -> str:
    return json.dumps({"pad": "x" * max(size - 12, 0)})


def stamped(sent: float) -> str:
    return json.dumps({"t": sent})


def run_producer(plan: ProducerPlan, go: Barrier, outbox: Outbox) -> None:
    outbox.put(asyncio.run(_produce(plan, go)))


async def _produce(plan: ProducerPlan, go: Barrier) -> dict[str, Any]:
    async with open_channel(plan.address) as channel:
        stub = StackDuckServiceStub(channel)
        await channel.channel_ready()
        await asyncio.to_thread(go.wait)  # every producer, and the clock, start together
        started, cpu = time.perf_counter(), time.process_time()
        if plan.floor:
            await _checks(health_pb2_grpc.HealthStub(channel), plan)
        elif plan.rate:
            await _paced(stub, plan)
        elif plan.batch:
            await _batches(stub, plan)
        else:
            await _unary(stub, plan)
        return {
            "sent": plan.count,
            "started": started,
            "finished": time.perf_counter(),
            "cpu": time.process_time() - cpu,
        }


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` shares as even as can be."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def _calls(call: Callable[[Any], Awaitable[Any]], request: Any, plan: ProducerPlan) -> None:
    """``plan.count`` unary calls of one request, ``plan.concurrency`` at a time."""

    async def send(share: int) -> None:
        for _ in range(share):
            await call(request)

    await asyncio.gather(*(send(share) for share in split(plan.count, plan.concurrency)))


async def _unary(stub: StackDuckServiceStub, plan: ProducerPlan) -> None:
    await _calls(stub.EnqueueJob, plan.request(payload(plan.payload_bytes)), plan)


async def _checks(stub: Any, plan: ProducerPlan) -> None:  # grpc_health ships no stub types
    """Unary calls that do no work in the server: what any unary RPC costs both sides."""
    await _calls(stub.Check, health_pb2.HealthCheckRequest(), plan)


async def _batches(stub: StackDuckServiceStub, plan: ProducerPlan) -> None:
    body = payload(plan.payload_bytes)
    sizes = [min(plan.batch, plan.count - start) for start in range(0, plan.count, plan.batch)]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for size in sizes:
        queue.put_nowait(size)

    sent = plan.group_offset

    async def send() -> None:
        nonlocal sent
        while not queue.empty():
            size = queue.get_nowait()
            if plan.groups:
                jobs = [
                    pb.EnqueueJobRequest(
                        job_type=plan.job_type, payload=body, group=f"g{(sent + i) % plan.groups}"
                    )
                    for i in range(size)
                ]
                sent += size
            else:
                jobs = [plan.request(body)] * size
            await stub.EnqueueJobs(pb.EnqueueJobsRequest(jobs=jobs))

    await asyncio.gather(*(send() for _ in range(min(plan.concurrency, len(sizes)))))


async def _paced(stub: StackDuckServiceStub, plan: ProducerPlan) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    pending = set()
    for i in range(plan.count):
        delay = start + i / plan.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        request = plan.request(stamped(time.time()))
        task = asyncio.ensure_future(stub.EnqueueJob(request))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


def run_worker(plan: WorkerPlan, stop: Event, done: Counter, opened: Counter, outbox: Outbox) -> None:
    outbox.put(asyncio.run(_work(plan, stop, done, opened)))


async def _work(plan: WorkerPlan, stop: Event, done: Counter, opened: Counter) -> dict[str, Any]:
    latencies: list[float] = []
    served: dict[str, int] = {}
    cpu = time.process_time()
    async with open_channel(plan.address) as channel:
        stub = StackDuckServiceStub(channel)
        streams, readers, requests = [], [], []
        for n in range(plan.streams):
            worker_id = plan.worker_id if plan.streams == 1 else f"{plan.worker_id}-{n}"
            request = pb.ConsumeJobsRequest(
                worker_id=worker_id, job_types=[plan.job_type], max_in_flight=plan.in_flight, batch=plan.batch
            )
            requests.append(request)
            stream = stub.ConsumeJobs(request)
            streams.append(stream)
            readers.append(
                asyncio.ensure_future(_consume(stub, stream, plan, latencies, done, served, worker_id))
            )
        await _until_listed(stub, {request.worker_id for request in requests})
        with opened.get_lock():
            opened.value += 1
        await asyncio.to_thread(stop.wait)
        for stream in streams:
            stream.cancel()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return {"latencies": latencies, "served": served, "cpu": time.process_time() - cpu}


async def _until_listed(stub: StackDuckServiceStub, worker_ids: set[str]) -> None:
    """Until the server lists every stream of ours. Asked over the streams' own channel:
    one connection, so the same server process (of several on one port) that holds them."""
    for _ in range(3000):
        listed = await stub.ListWorkers(pb.ListWorkersRequest())
        if worker_ids <= {w.worker_id for w in listed.workers}:
            return
        await asyncio.sleep(0.01)
    raise RuntimeError("bench worker's streams were not open within 30 s")


async def _consume(
    stub: StackDuckServiceStub,
    stream: Any,
    plan: WorkerPlan,
    latencies: list[float],
    done: Counter,
    served: dict[str, int],
    worker_id: str,
) -> None:
    acks: set[asyncio.Future[Any]] = set()
    async for message in stream:
        jobs = list(message.jobs) if plan.batch else [message.job]
        served[worker_id] = served.get(worker_id, 0) + len(jobs)
        now = time.time()
        for job in jobs:
            if job.payload.startswith('{"t"'):
                latencies.append(now - json.loads(job.payload)["t"])
        if plan.batch:
            ack = stub.AckJobs(pb.AckJobsRequest(completed=[plan.completion(j) for j in jobs]))
        else:
            [job] = jobs
            ack = stub.CompleteJob(plan.completion(job))
        task = asyncio.ensure_future(_acked(ack, len(jobs), done))
        acks.add(task)
        task.add_done_callback(acks.discard)


async def _acked(call: Any, count: int, done: Counter) -> None:
    await call
    with done.get_lock():
        done.value += count
