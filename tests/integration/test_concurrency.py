"""Many workers on one server: every job delivered once, none to two workers at once."""

from __future__ import annotations

import asyncio
from collections import Counter

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running

WORKERS = 4
JOBS_PER_WORKER = 2000
TOTAL = WORKERS * JOBS_PER_WORKER


async def test_four_workers_share_8000_jobs_without_a_double_delivery(server: Running) -> None:
    deliveries: Counter[str] = Counter()
    holders: dict[str, str] = {}
    overlaps: list[str] = []
    completed: list[str] = []
    done = asyncio.Event()

    async def worker(name: str) -> None:
        stream = server.stub.ConsumeJobs(
            pb.ConsumeJobsRequest(worker_id=name, job_types=["bulk"], max_in_flight=8)
        )
        try:
            async for message in stream:
                job = message.job
                deliveries[job.id] += 1
                if job.id in holders:
                    overlaps.append(job.id)
                holders[job.id] = name
                await server.stub.CompleteJob(
                    pb.CompleteJobRequest(job_id=job.id, lease_token=job.lease_token, worker_id=name)
                )
                del holders[job.id]
                completed.append(job.id)
                if len(completed) >= TOTAL:
                    done.set()
        finally:
            stream.cancel()

    async def producer(offset: int) -> list[str]:
        ids = []
        for n in range(offset, TOTAL, 4):
            ids.append(await server.enqueue("bulk", f'{{"n": {n}}}', priority=1 + n % 3))
        return ids

    workers = [asyncio.create_task(worker(f"w{i}")) for i in range(WORKERS)]
    enqueued = [i for ids in await asyncio.gather(*(producer(k) for k in range(4))) for i in ids]
    await asyncio.wait_for(done.wait(), 120)
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)

    assert len(set(enqueued)) == TOTAL
    assert set(deliveries) == set(enqueued)
    assert [i for i, n in deliveries.items() if n > 1] == []
    assert overlaps == []
    counts = await server.counts()
    assert counts["completed"] == TOTAL
    assert sum(counts.values()) == TOTAL
