"""Results, metadata, timeouts and the handler's say in retrying, through the SDK against
a real server: what a handler returns or raises is what GetJob shows afterwards."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from stackduck import AsyncClient, Client, JobInfo, JobStatus, NewJob, NoRetry, RetryIn, Worker
from tests.integration.conftest import Running, ServerFactory
from tests.integration.sdk.conftest import memory_only, until_status, working


def run_one(server: Running, job_type: str, handler: Any, **options: Any) -> Worker:
    return Worker(server.address, handlers={job_type: handler}, worker_id="w-results", **options)


async def test_a_handler_sees_metadata_and_timeout_and_its_return_is_the_result(
    server: Running, client: AsyncClient
) -> None:
    seen: list[JobInfo] = []

    async def report(job: JobInfo) -> dict[str, Any]:
        seen.append(job)
        return {"rows": 3, "tenant": job.metadata["tenant"]}

    job_id = await client.enqueue("report", {"month": 11}, timeout=30, metadata={"tenant": "acme"})
    async with working(run_one(server, "report", report)):
        done = await until_status(client, job_id, JobStatus.COMPLETED)

    [delivered] = seen
    assert delivered.metadata == {"tenant": "acme"} and delivered.timeout == 30.0
    assert delivered.started_at is not None and delivered.attempt_deadline is not None
    assert 29 <= (delivered.attempt_deadline - delivered.started_at).total_seconds() <= 31
    assert (done.result, done.raw_result) == ({"rows": 3, "tenant": "acme"}, '{"rows": 3, "tenant": "acme"}')
    assert (done.metadata, done.timeout, done.attempt_deadline) == ({"tenant": "acme"}, 30.0, None)
    [attempt] = done.attempts
    assert (attempt.number, attempt.worker_id, attempt.outcome, attempt.error) == (
        1,
        "w-results",
        "completed",
        None,
    )
    assert attempt.started_at is not None and attempt.ended_at is not None
    assert attempt.started_at <= attempt.ended_at


@memory_only
async def test_enqueue_many_and_the_sync_client_send_timeout_and_metadata(
    server: Running, client: AsyncClient
) -> None:
    ids = await client.enqueue_many(
        [NewJob("a", timeout=5, metadata={"k": "1"}), NewJob("a", metadata={"k": "2"}), NewJob("a")]
    )

    def script() -> JobInfo:  # from a thread with no event loop, as a script would
        with Client(server.address) as sync:
            return sync.get(sync.enqueue("b", timeout=7.5, metadata={"origin": "cron"}))

    from_sync = await asyncio.to_thread(script)

    jobs = [await client.get(job_id) for job_id in ids]
    assert [(j.timeout, j.metadata) for j in jobs] == [(5.0, {"k": "1"}), (None, {"k": "2"}), (None, {})]
    assert (from_sync.timeout, from_sync.metadata) == (7.5, {"origin": "cron"})


@memory_only
async def test_none_is_no_result_and_a_str_is_a_json_string(server: Running, client: AsyncClient) -> None:
    quiet = await client.enqueue("quiet")
    chatty = await client.enqueue("chatty")
    worker = Worker(server.address, handlers={"quiet": lambda job: None, "chatty": lambda job: "done"})
    async with working(worker):
        nothing = await until_status(client, quiet, JobStatus.COMPLETED)
        said = await until_status(client, chatty, JobStatus.COMPLETED)

    assert (nothing.result, nothing.raw_result) == (None, None)
    assert (said.result, said.raw_result) == ("done", '"done"')


@memory_only
async def test_a_return_value_json_cannot_carry_fails_the_job_saying_why(
    server: Running, client: AsyncClient
) -> None:
    job_id = await client.enqueue("odd", retry_limit=0)
    async with working(run_one(server, "odd", lambda job: {"ids": {1, 2}})):
        dead = await until_status(client, job_id, JobStatus.FAILED)

    assert dead.error_message is not None
    assert dead.error_message.startswith("the result cannot be serialised as JSON")
    assert "set is not JSON serializable" in dead.error_message
    assert (dead.result, [a.outcome for a in dead.attempts]) == (None, ["failed"])


@memory_only
async def test_a_result_over_the_servers_limit_fails_the_job_instead_of_hanging(
    start_server: ServerFactory,
) -> None:
    server: Running = await start_server(STACKDUCK_MAX_PAYLOAD_BYTES=1024)
    async with AsyncClient(server.address) as client:
        job_id = await client.enqueue("big", retry_limit=0)
        async with working(run_one(server, "big", lambda job: "x" * 2000)):
            dead = await until_status(client, job_id, JobStatus.FAILED)

    assert dead.error_message is not None
    assert dead.error_message.startswith("the server refused the handler's result: ")
    assert dead.raw_result is None


async def test_no_retry_dead_letters_at_once_and_retry_in_sets_the_wait(
    server: Running, client: AsyncClient
) -> None:
    def declined(job: JobInfo) -> None:
        raise NoRetry("card declined")

    async def busy(job: JobInfo) -> None:
        raise RetryIn(600, "upstream busy")

    final = await client.enqueue("charge", max_retries=5)
    later = await client.enqueue("sync", max_retries=5, delay=1)
    worker = Worker(server.address, handlers={"charge": declined, "sync": busy})
    async with working(worker):
        dead = await until_status(client, final, JobStatus.FAILED)
        deadline = asyncio.get_running_loop().time() + 15
        while (waiting := await client.get(later)).retry_count == 0:
            assert asyncio.get_running_loop().time() < deadline, "the RetryIn job was never answered"
            await asyncio.sleep(0.01)
        answered = time.time()

    assert (dead.max_retries, dead.error_message) == (5, "card declined")  # retries were left
    assert (waiting.status, waiting.error_message) == (JobStatus.QUEUED, "upstream busy")
    assert waiting.scheduled_at is not None
    assert 590 <= waiting.scheduled_at.timestamp() - answered <= 601  # not the 1 s backoff


@memory_only
async def test_retry_in_with_no_retries_left_dead_letters(server: Running, client: AsyncClient) -> None:
    def busy(job: JobInfo) -> None:
        raise RetryIn(60, "still busy")

    job_id = await client.enqueue("sync", retry_limit=0)
    async with working(run_one(server, "sync", busy)):
        dead = await until_status(client, job_id, JobStatus.FAILED)

    assert dead.error_message == "still busy"


@memory_only
async def test_a_hand_written_worker_completes_with_a_result_and_fails_with_retry_in(
    client: AsyncClient,
) -> None:
    done_id = await client.enqueue("manual")
    again_id = await client.enqueue("manual", delay=1)
    jobs = client.consume("w-manual", ["manual"], max_in_flight=2)
    first, second = [await anext(jobs), await anext(jobs)]
    await client.complete(first, "w-manual", result=[1, "two"])
    retry_at = await client.fail(second, "later", "w-manual", retry_in=300)
    await jobs.aclose()

    done = await client.get(first.id)
    assert {first.id, second.id} == {done_id, again_id}
    assert (done.result, done.raw_result) == ([1, "two"], '[1, "two"]')
    assert retry_at is not None and 295 <= retry_at.timestamp() - time.time() <= 301


async def test_an_idempotency_key_makes_a_resent_job_one_job(server: Running, client: AsyncClient) -> None:
    first = await client.enqueue("charge", {"order": 42}, idempotency_key="order-42")
    again = await client.enqueue("charge", {"order": 42}, idempotency_key="order-42")
    [batched] = await client.enqueue_many([NewJob("charge", idempotency_key="order-42")])
    other = await client.enqueue("refund", idempotency_key="order-42")  # another type: its own key

    assert first == again == batched != other
    assert (await client.get(first)).idempotency_key == "order-42"
    assert (await client.get(other)).idempotency_key == "order-42"
