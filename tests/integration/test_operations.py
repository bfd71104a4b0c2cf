"""Operating a running server over gRPC: listings, bulk repairs, stats, pauses, workers, limits."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory


async def kill(server: Running, job_type: str, count: int) -> list[str]:
    """Enqueue jobs and dead-letter them straight away."""
    ids = []
    for _ in range(count):
        job_id = await server.enqueue(job_type)
        reply = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name=job_type, worker_id="w"))
        await server.stub.FailJob(
            pb.FailJobRequest(
                job_id=reply.job.id, lease_token=reply.job.lease_token, no_retry=True, error_message="x"
            )
        )
        ids.append(job_id)
    return ids


async def test_list_jobs_filters_and_pages(server: Running) -> None:
    emails = [await server.enqueue("email") for _ in range(5)]
    await server.enqueue("sms")
    dead = await kill(server, "bounced", 2)

    first = await server.stub.ListJobs(pb.ListJobsRequest(job_type="email", status="queued", limit=3))
    rest = await server.stub.ListJobs(
        pb.ListJobsRequest(job_type="email", status="queued", limit=3, page_token=first.next_page_token)
    )
    failed = await server.stub.ListJobs(pb.ListJobsRequest(status="failed"))
    everything = await server.stub.ListJobs(pb.ListJobsRequest())

    assert [j.id for j in first.jobs] + [j.id for j in rest.jobs] == emails
    assert rest.next_page_token == ""
    assert [j.id for j in failed.jobs] == dead
    assert len(everything.jobs) == 8
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.ListJobs(pb.ListJobsRequest(status="sleeping"))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_page_of_large_jobs_stops_at_the_reply_size_and_goes_on(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_MAX_PAYLOAD_BYTES=16 * 1024)
    ids = [await server.enqueue("big", f'"{i:05d}{"x" * 8000}"') for i in range(30)]
    dead = await kill(server, "big-dead", 1)

    seen: list[str] = []
    sizes: list[int] = []
    page = pb.ListJobsResponse(next_page_token="")
    while True:
        page = await server.stub.ListJobs(
            pb.ListJobsRequest(job_type="big", limit=1000, page_token=page.next_page_token)
        )
        seen += [job.id for job in page.jobs]
        sizes.append(len(page.jobs))
        if not page.next_page_token:
            break
    assert seen == ids
    assert len(sizes) > 2 and min(sizes) > 0, sizes  # about 80 KiB a reply: 9 jobs each
    letters = await server.stub.ListDeadLetters(pb.ListDeadLettersRequest(limit=1000))
    assert [job.id for job in letters.jobs] == dead and letters.next_page_token == ""


async def test_requeue_and_purge_dead_letters_in_bulk(server: Running) -> None:
    a = await kill(server, "a", 3)
    b = await kill(server, "b", 2)
    c = await kill(server, "c", 2)

    by_id = await server.stub.RequeueDeadLetters(pb.DeadLetterSelection(job_ids=[a[0], "no-such-id"]))
    by_type = await server.stub.PurgeDeadLetters(pb.DeadLetterSelection(job_type="b"))
    assert (by_id.count, by_type.count) == (1, 2)
    assert (await server.job(a[0])).status == "queued"
    for job_id in b:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await server.job(job_id)
        assert err.value.code() is grpc.StatusCode.NOT_FOUND

    everything = await server.stub.RequeueDeadLetters(pb.DeadLetterSelection(all=True))
    assert everything.count == 4
    assert {(await server.job(i)).status for i in a[1:] + c} == {"queued"}
    assert (await server.counts())["failed"] == 0

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.PurgeDeadLetters(pb.DeadLetterSelection())
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "exactly one" in (err.value.details() or "")


async def test_queue_stats(server: Running) -> None:
    await server.enqueue("mail", priority=1)
    await server.enqueue("mail", priority=3)
    await server.enqueue("mail", priority=3)
    await server.enqueue("mail", scheduled_in=600)
    running = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="mail", worker_id="w"))).job
    await server.enqueue("mail", priority=2)
    done = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="mail", worker_id="w"))).job
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=done.id))
    await kill(server, "mail", 1)
    await server.enqueue("other")

    stats = await server.stub.QueueStats(pb.QueueStatsRequest(job_type="mail"))

    [mail] = stats.queues
    assert running.priority == 1
    assert (mail.ready_high, mail.ready_normal, mail.ready_low) == (0, 0, 2)
    assert (mail.scheduled, mail.running, mail.dead) == (1, 1, 1)
    assert (mail.completed_last_minute, mail.dead_last_minute) == (1, 1)
    assert mail.failure_rate == pytest.approx(0.5)
    assert not mail.paused
    every = await server.stub.QueueStats(pb.QueueStatsRequest())
    assert [q.job_type for q in every.queues] == ["mail", "other"]


async def test_a_paused_type_accepts_jobs_and_delivers_none_until_resumed(server: Running) -> None:
    await server.stub.PauseQueue(pb.PauseQueueRequest(job_type="report"))
    job_id = await server.enqueue("report")
    stream = server.stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="w", job_types=["report"]))
    pending = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.3)
    empty = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="report", worker_id="x"))
    [stats] = (await server.stub.QueueStats(pb.QueueStatsRequest(job_type="report"))).queues

    assert not pending.done() and not empty.success
    assert stats.paused and stats.ready_normal == 1

    resumed = await server.stub.ResumeQueue(pb.PauseQueueRequest(job_type="report"))
    assert resumed.success and not resumed.paused
    assert (await asyncio.wait_for(pending, 3)).job.id == job_id
    stream.cancel()


async def test_list_workers_shows_streams_their_jobs_and_signs_of_life(server: Running) -> None:
    job_id = await server.enqueue("t")
    stream = server.stub.ConsumeJobs(
        pb.ConsumeJobsRequest(worker_id="w-1", job_types=["t", "u"], max_in_flight=3)
    )
    job = (await stream.read()).job
    await server.stub.Heartbeat(pb.HeartbeatRequest(job_id=job_id, lease_token=job.lease_token))

    [worker] = (await server.stub.ListWorkers(pb.ListWorkersRequest())).workers

    assert (worker.worker_id, list(worker.job_types), worker.max_in_flight) == ("w-1", ["t", "u"], 3)
    assert list(worker.in_flight_job_ids) == [job_id]
    assert worker.last_seen_at >= worker.connected_at > 0
    assert worker.peer.startswith("ipv")
    stream.cancel()
    for _ in range(50):
        if not (await server.stub.ListWorkers(pb.ListWorkersRequest())).workers:
            break
        await asyncio.sleep(0.05)
    assert not (await server.stub.ListWorkers(pb.ListWorkersRequest())).workers


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"], ids=["ipv4", "ipv6"])
async def test_a_client_may_hold_only_so_many_streams(start_server: ServerFactory, host: str) -> None:
    server: Running = await start_server(STACKDUCK_MAX_STREAMS_PER_CLIENT=2, SERVER_ADDR=f"{host}:0")
    streams = [
        server.stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id=f"w{i}", job_types=["t"])) for i in (0, 1)
    ]
    for _ in range(100):  # both streams registered before the third one asks
        if len((await server.stub.ListWorkers(pb.ListWorkersRequest())).workers) == 2:
            break
        await asyncio.sleep(0.02)
    streams.append(server.stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="w2", job_types=["t"])))

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(streams[2].read(), 5)

    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "STACKDUCK_MAX_STREAMS_PER_CLIENT" in (err.value.details() or "")
    client = "ipv4:127.0.0.1" if host == "127.0.0.1" else "ipv6:::/64"  # an IPv6 client is its /64
    workers = (await server.stub.ListWorkers(pb.ListWorkersRequest())).workers
    assert [w.peer for w in workers] == [client, client]
    for stream in streams:
        stream.cancel()
