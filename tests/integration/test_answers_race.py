"""A worker's answers and its own heartbeats for the same job, at the same moment.

A heartbeat bumps the job's version; an answer carrying the same lease token must
still apply (made again on the job as the heartbeat left it), never be refused as
"changed while this request was handled" and leave the job running for a lease.
"""

from __future__ import annotations

import asyncio

import grpc

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running

PAIRS = 200


async def test_failjob_racing_its_own_heartbeat_always_applies(server: Running) -> None:
    ids = list(
        (
            await server.stub.EnqueueJobs(
                pb.EnqueueJobsRequest(
                    jobs=[pb.EnqueueJobRequest(job_type="race", payload="{}") for _ in range(PAIRS)]
                )
            )
        ).job_ids
    )
    stream = server.stub.ConsumeJobs(
        pb.ConsumeJobsRequest(worker_id="w", job_types=["race"], max_in_flight=PAIRS, batch=True)
    )
    held: list[pb.Job] = []
    async for message in stream:
        held.extend(message.jobs)
        if len(held) == PAIRS:
            break

    async def beat(job: pb.Job) -> None:
        await server.stub.Heartbeat(
            pb.HeartbeatRequest(job_id=job.id, lease_token=job.lease_token, worker_id="w")
        )

    async def fail(job: pb.Job) -> pb.FailJobResponse:
        return await server.stub.FailJob(
            pb.FailJobRequest(
                job_id=job.id,
                lease_token=job.lease_token,
                worker_id="w",
                error_message=f"boom {job.id}",
                no_retry=True,
            )
        )

    calls = [call for job in held for call in (beat(job), fail(job))]
    results = await asyncio.gather(*calls, return_exceptions=True)
    stream.cancel()
    failures = results[1::2]
    refused = [r for r in failures if isinstance(r, BaseException)]
    assert refused == []
    # A heartbeat that lost to the answer is refused (the job is no longer running): fine.
    for job_id in ids:
        job = await server.job(job_id)
        assert job.status == "failed", (job_id, job.status)
        assert job.error_message == f"boom {job_id}"
    counts = await server.counts()
    assert counts["failed"] == PAIRS
    assert counts["running"] == 0


async def test_an_out_of_range_lease_token_fails_alone(server: Running) -> None:
    """A token no attempt can have is refused at the edge; the completions sent with it
    (which share its group commit) all apply."""
    count = 50
    ids = list(
        (
            await server.stub.EnqueueJobs(
                pb.EnqueueJobsRequest(
                    jobs=[pb.EnqueueJobRequest(job_type="iso", payload="{}") for _ in range(count + 1)]
                )
            )
        ).job_ids
    )
    stream = server.stub.ConsumeJobs(
        pb.ConsumeJobsRequest(worker_id="w", job_types=["iso"], max_in_flight=count + 1, batch=True)
    )
    held: list[pb.Job] = []
    async for message in stream:
        held.extend(message.jobs)
        if len(held) == count + 1:
            break
    victim, *others = held

    def complete(job: pb.Job, token: int) -> object:
        return server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job.id, lease_token=token, worker_id="w"))

    results = await asyncio.gather(
        complete(victim, 2**31), *(complete(job, job.lease_token) for job in others), return_exceptions=True
    )
    assert (await server.job(victim.id)).status == "running"  # the bad answer changed nothing
    stream.cancel()
    bad, *good = results
    assert isinstance(bad, grpc.aio.AioRpcError)
    assert bad.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "lease_token" in (bad.details() or "")
    assert [r for r in good if isinstance(r, BaseException)] == []
    assert sorted([victim.id, *(job.id for job in others)]) == sorted(ids)
    for job in others:
        assert (await server.job(job.id)).status == "completed"
