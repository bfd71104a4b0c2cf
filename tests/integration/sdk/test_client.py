"""AsyncClient and Client against a real server, on every storage configuration."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import stackduck
from stackduck import AsyncClient, JobInfo, JobStatus, NewJob
from stackduck.domain.errors import (
    IllegalTransition,
    InvalidJob,
    JobNotFound,
    LimitExceeded,
    StackduckError,
    StorageUnavailable,
)
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory
from tests.integration.sdk.conftest import free_port, memory_only


async def test_a_dict_payload_is_sent_as_json_and_read_back_parsed(
    client: AsyncClient, server: Running
) -> None:
    job_id = await client.enqueue("email_send", {"to": "a@b.c", "n": [1, 2.5]})

    job = await client.get(job_id)

    assert isinstance(job, JobInfo)
    assert job.id == job_id and job.job_type == "email_send"
    assert job.payload == {"to": "a@b.c", "n": [1, 2.5]}
    assert json.loads((await server.job(job_id)).payload) == {"to": "a@b.c", "n": [1, 2.5]}
    assert job.status is JobStatus.QUEUED and str(job.status) == "queued"
    assert (job.priority, job.retry_count, job.max_retries, job.delay) == (2, 0, 2, 30)
    assert job.created_at is not None and job.created_at.tzinfo is UTC
    assert abs(job.created_at - datetime.now(UTC)) < timedelta(seconds=5)
    assert (job.started_at, job.completed_at, job.lease_expires_at, job.worker_id) == (None, None, None, None)
    assert (job.lease_token, job.error_message) == (0, None)


async def test_a_str_payload_is_sent_exactly_as_given(client: AsyncClient) -> None:
    text = '{ "to" : "a@b.c",\n "n": [1, 2.50] }'
    job_id = await client.enqueue("email_send", text)

    job = await client.get(job_id)

    assert job.raw_payload == text
    assert job.payload == {"to": "a@b.c", "n": [1, 2.5]}


async def test_a_list_payload_and_the_default_empty_object(client: AsyncClient) -> None:
    listed = await client.get(await client.enqueue("t", [1, "two", None]))
    empty = await client.get(await client.enqueue("t"))

    assert listed.payload == [1, "two", None]
    assert (empty.raw_payload, empty.payload) == ("{}", {})


async def test_options_reach_the_server(client: AsyncClient) -> None:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)

    first = await client.get(
        await client.enqueue("t", {}, priority=1, delay=7, max_retries=5, scheduled_at=later)
    )
    second = await client.get(await client.enqueue("t", {}, retry_limit=0, scheduled_in=timedelta(hours=1)))
    third = await client.get(await client.enqueue("t", {}, scheduled_at="2000-01-01T00:00:00+02:00"))

    assert (first.priority, first.delay, first.max_retries, first.scheduled_at) == (1, 7, 5, later)
    assert second.max_retries == 0
    assert second.scheduled_at is not None
    assert timedelta(minutes=59) < second.scheduled_at - datetime.now(UTC) <= timedelta(hours=1)
    assert third.scheduled_at is not None and third.scheduled_at <= datetime.now(UTC)  # the past means now


async def test_enqueue_many_returns_the_ids_in_order(client: AsyncClient) -> None:
    jobs = [NewJob("batch", {"n": n}, priority=1 + n % 3) for n in range(20)]

    ids = await client.enqueue_many(jobs)

    assert len(set(ids)) == 20
    stored = await asyncio.gather(*(client.get(job_id) for job_id in ids))
    assert [job.payload for job in stored] == [{"n": n} for n in range(20)]
    assert [job.priority for job in stored] == [1 + n % 3 for n in range(20)]


async def test_enqueue_many_checks_every_payload_before_sending_any(client: AsyncClient) -> None:
    with pytest.raises(InvalidJob, match="JSON"):
        await client.enqueue_many([NewJob("never", {"n": 1}), NewJob("never", {"bad": float("nan")})])

    marker = await client.enqueue("never", {})
    async with delivered(client, "never", 1) as [first]:
        assert first.id == marker  # FIFO: nothing of the refused batch came before it


async def test_enqueue_many_is_all_or_nothing_and_names_the_refused_job(client: AsyncClient) -> None:
    with pytest.raises(InvalidJob, match="priority") as refused:
        await client.enqueue_many([NewJob("t", {}), NewJob("t", {}, priority=9), NewJob("t", {})])

    assert "job 1 of the batch" in str(refused.value)
    assert (await client.list_jobs("t")).jobs == ()


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("not json", InvalidJob),
        ('{"a": NaN}', InvalidJob),
        ({"a": float("inf")}, InvalidJob),
        ({"a": object()}, InvalidJob),
        ("[" + "1" * 2_000_000 + "]", LimitExceeded),
    ],
)
async def test_a_bad_payload_is_a_project_error(
    client: AsyncClient, payload: stackduck.client.Payload, error: type[StackduckError]
) -> None:
    with pytest.raises(error):
        await client.enqueue("t", payload)


async def test_values_the_server_refuses_are_invalid_job_with_its_message(client: AsyncClient) -> None:
    with pytest.raises(InvalidJob, match="priority must be 1"):
        await client.enqueue("t", {}, priority=7)
    with pytest.raises(InvalidJob, match="job_type must not be empty"):
        await client.enqueue("", {})
    with pytest.raises(InvalidJob, match="timezone"):
        await client.enqueue("t", {}, scheduled_at=datetime(2030, 1, 1))  # naive: ambiguous
    with pytest.raises(InvalidJob):
        await client.enqueue("t", {}, delay=2**40)  # beyond the wire's int32


async def test_an_unknown_id_is_job_not_found(client: AsyncClient) -> None:
    unknown = "01a00000-0000-7000-8000-000000000000"
    for call in (client.get, client.cancel, client.requeue):
        with pytest.raises(JobNotFound) as missing:
            await call(unknown)
        assert missing.value.job_id == unknown
        assert unknown in str(missing.value)


async def test_cancel_returns_the_cancelled_job_and_refuses_twice(client: AsyncClient) -> None:
    job_id = await client.enqueue("t", {}, scheduled_in=3600)

    cancelled = await client.cancel(job_id)

    assert (cancelled.id, cancelled.status) == (job_id, JobStatus.CANCELLED)
    assert (await client.get(job_id)).status is JobStatus.CANCELLED
    with pytest.raises(IllegalTransition):
        await client.cancel(job_id)


async def test_dead_letters_are_listed_page_by_page_and_requeued(client: AsyncClient) -> None:
    ids = [await client.enqueue("doomed", {"n": n}, retry_limit=0) for n in range(3)]
    async with delivered(client, "doomed", 3) as jobs:
        for job in jobs:
            assert await client.fail(job, f"broke {job.payload['n']}", "w") is None  # dead-lettered

    first = await client.dead_letters("doomed", limit=2)
    second = await client.dead_letters("doomed", limit=2, page_token=first.next_page_token)

    assert first.next_page_token is not None and second.next_page_token is None
    assert [job.id for job in first.jobs + second.jobs] == ids
    assert [job.error_message for job in await client.all_dead_letters("doomed", page_size=1)] == [
        "broke 0",
        "broke 1",
        "broke 2",
    ]
    assert all(job.status is JobStatus.FAILED for job in first.jobs)
    requeued = await client.requeue(ids[0])
    assert (requeued.status, requeued.retry_count) == (JobStatus.QUEUED, 0)
    assert [job.id for job in await client.all_dead_letters("doomed")] == ids[1:]
    with pytest.raises(IllegalTransition):
        await client.requeue(ids[0])


async def test_hand_written_worker_calls_complete_fail_and_heartbeat(client: AsyncClient) -> None:
    done_id = await client.enqueue("manual", {"n": 1})
    retried_id = await client.enqueue("manual", {"n": 2}, delay=60)
    async with delivered(client, "manual", 2, worker_id="w7") as delivered_jobs:
        jobs = {job.id: job for job in delivered_jobs}
        running = await client.get(done_id)
        assert (running.status, running.worker_id, running.lease_token) == (JobStatus.RUNNING, "w7", 1)
        assert running.lease_expires_at is not None and running.started_at is not None
        assert await client.heartbeat(jobs[done_id], "w7") is not None
        await client.complete(jobs[done_id], "w7")
        retry_at = await client.fail(jobs[retried_id], "try again", "w7")

    assert (await client.get(done_id)).status is JobStatus.COMPLETED
    retried = await client.get(retried_id)
    assert (retried.status, retried.retry_count, retried.error_message) == (JobStatus.QUEUED, 1, "try again")
    assert retry_at is not None and retry_at == retried.scheduled_at
    with pytest.raises(IllegalTransition):  # the attempt is over: its lease token is stale
        await client.complete(jobs[retried_id], "w7")


async def test_a_wrong_lease_is_refused_as_illegal_transition(client: AsyncClient) -> None:
    await client.enqueue("fenced", {})
    async with delivered(client, "fenced", 1, worker_id="holder") as [job]:
        with pytest.raises(IllegalTransition):
            await client.complete(job, "somebody-else")


async def test_a_server_that_is_not_there_is_storage_unavailable() -> None:
    async with AsyncClient(f"127.0.0.1:{free_port()}", timeout=5) as client:
        with pytest.raises(StorageUnavailable):
            await client.enqueue("t", {})
        with pytest.raises(StorageUnavailable):
            async for _ in client.consume("w", ["t"]):
                pass


async def test_the_client_reads_the_servers_address_variable(
    server: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVER_ADDR", server.address)
    monkeypatch.setenv("GRPC_PORT", "1")  # ignored when SERVER_ADDR is set, as by the server

    async with AsyncClient() as client:
        job_id = await client.enqueue("env", {})

    assert (await server.job(job_id)).job_type == "env"


async def test_the_sync_client_enqueues_gets_and_raises_project_errors(server: Running) -> None:
    def script() -> tuple[str, JobInfo]:
        with stackduck.Client(server.address) as client:
            job_id = client.enqueue("email_send", {"to": "a@b.c"})
            with pytest.raises(InvalidJob):
                client.enqueue("email_send", "{not json")
            return job_id, client.get(job_id)

    job_id, job = await asyncio.to_thread(script)  # as from a thread with no event loop

    assert job.id == job_id and job.payload == {"to": "a@b.c"}
    stored = await server.stub.GetJob(pb.GetJobRequest(job_id=job_id))
    assert stored.payload == '{"to": "a@b.c"}'


async def test_the_sync_client_works_inside_a_running_event_loop_and_from_many_threads(
    server: Running,
) -> None:
    client = stackduck.Client(server.address)

    def from_a_coroutine() -> str:  # a thread whose own event loop is running
        async def handler() -> str:
            return client.enqueue("in_loop", {})

        return asyncio.run(handler())

    try:
        job_id = await asyncio.to_thread(from_a_coroutine)
        threads = (asyncio.to_thread(client.enqueue, "in_loop", {"n": n}) for n in range(8))
        ids = await asyncio.gather(*threads)
        assert (await asyncio.to_thread(client.get, job_id)).status is JobStatus.QUEUED
    finally:
        await asyncio.to_thread(client.close)
        client.close()  # twice is fine
    assert len({job_id, *ids}) == 9
    with pytest.raises(RuntimeError, match="closed"):
        client.get(job_id)


@contextlib.asynccontextmanager
async def delivered(
    client: AsyncClient, job_type: str, count: int, worker_id: str = "w"
) -> AsyncIterator[list[JobInfo]]:
    """The first ``count`` jobs a stream delivers; the stream stays open (and the jobs
    leased) for the block, and closes after it."""
    stream = client.consume(worker_id, [job_type], max_in_flight=count)
    try:
        yield [await asyncio.wait_for(anext(stream), 10) for _ in range(count)]
    finally:
        await stream.aclose()


@memory_only
async def test_a_server_started_with_a_token_needs_it_from_args_or_its_own_variables(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server: Running = await start_server(STACKDUCK_AUTH_TOKEN="s3cret")
    for name in ("STACKDUCK_AUTH_TOKEN", "STACKDUCK_AUTH_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)

    async with AsyncClient(server.address) as anonymous:
        with pytest.raises(StackduckError, match="UNAUTHENTICATED"):
            await anonymous.enqueue("t", {})
    async with AsyncClient(server.address, token="s3cret") as client:
        job_id = await client.enqueue("t", {})
    monkeypatch.setenv("STACKDUCK_AUTH_TOKEN", "s3cret")
    async with AsyncClient(server.address) as client:
        assert (await client.get(job_id)).job_type == "t"
    monkeypatch.delenv("STACKDUCK_AUTH_TOKEN")
    (tmp_path / "token").write_text("s3cret\n")
    monkeypatch.setenv("STACKDUCK_AUTH_TOKEN_FILE", str(tmp_path / "token"))
    async with AsyncClient(server.address) as client:
        assert (await client.get(job_id)).job_type == "t"
