"""The worker's parts that need no server: handlers, heartbeat timing, backoff, loading."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest

from stackduck.client import JobInfo, Worker
from stackduck.client.backoff import Backoff
from stackduck.client.handlers import Handlers, NoRetry, RetryIn, RunningJob, StopFlag, call, is_async
from stackduck.client.jobs import JobStatus
from stackduck.client.leases import MIN_INTERVAL_SECONDS, attempt_time_left, heartbeat_interval
from stackduck.client.threads import DaemonThreads
from stackduck.entrypoints.cli.worker import load_worker

PATIENCE = 10.0


def delivered(started: float, expires: float) -> JobInfo:
    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    return JobInfo(
        id="j",
        job_type="t",
        payload={},
        raw_payload="{}",
        status=JobStatus.RUNNING,
        priority=2,
        retry_count=0,
        max_retries=2,
        delay=30,
        error_message=None,
        scheduled_at=at(started),
        started_at=at(started),
        completed_at=None,
        created_at=at(started),
        updated_at=at(started),
        lease_token=1,
        worker_id="w",
        lease_expires_at=at(expires),
    )


def test_heartbeats_come_every_third_of_the_lease() -> None:
    assert heartbeat_interval(delivered(1000, 1300), now=1000.2) == pytest.approx(299.8 / 3)


def test_a_client_clock_behind_the_servers_cannot_stretch_the_interval() -> None:
    # The client thinks it is 100 s earlier: 400 s left by its clock, but the lease is 300 s.
    assert heartbeat_interval(delivered(1000, 1300), now=900) == pytest.approx(100)


def test_a_client_clock_ahead_of_the_servers_falls_back_on_the_servers_span() -> None:
    assert heartbeat_interval(delivered(1000, 1300), now=2000) == pytest.approx(100)


def test_whole_second_rounding_of_a_short_lease_still_gives_a_bounded_interval() -> None:
    assert heartbeat_interval(delivered(1000, 1001), now=1000.95) == MIN_INTERVAL_SECONDS
    assert heartbeat_interval(delivered(1000, 1000), now=1000.5) == MIN_INTERVAL_SECONDS


def test_backoff_doubles_up_to_the_cap_with_jitter_below_and_resets() -> None:
    longest = Backoff(0.1, 1.0, unit_random=lambda: 1.0)
    shortest = Backoff(0.1, 1.0, unit_random=lambda: 0.0)

    assert [round(longest.next(), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert [round(shortest.next(), 3) for _ in range(3)] == [0.05, 0.1, 0.2]
    longest.reset()
    assert longest.next() == pytest.approx(0.1)


def test_handlers_by_dict_and_by_decorator_each_type_once() -> None:
    def send(job: JobInfo) -> None: ...

    worker = Worker(handlers={"send": send})

    @worker.handler("other")
    async def other(job: JobInfo) -> None: ...

    assert dict(worker.handlers) == {"send": send, "other": other}
    with pytest.raises(ValueError, match="already has a handler"):
        worker.handler("send")(send)
    with pytest.raises(TypeError, match="not callable"):
        Handlers({"x": "not a function"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="non-empty"):
        Handlers({"": send})


def test_options_are_checked_and_can_be_overridden_keeping_the_handlers() -> None:
    worker = Worker("h:1", handlers={"t": print}, concurrency=4, worker_id="w", grace=3)

    changed = worker.with_options(concurrency=8, grace=0)
    kept = worker.with_options()

    assert (changed.address, changed.concurrency, changed.worker_id, changed.grace) == ("h:1", 8, "w", 0)
    assert (kept.concurrency, kept.grace, dict(kept.handlers)) == (4, 3, {"t": print})
    with pytest.raises(ValueError, match="concurrency"):
        Worker(concurrency=0)
    with pytest.raises(ValueError, match="concurrency"):
        Worker(concurrency=1001)


async def test_a_worker_without_handlers_refuses_to_run() -> None:
    with pytest.raises(ValueError, match="no handlers"):
        await Worker("127.0.0.1:1").run()


async def test_coroutine_functions_and_async_callables_run_on_the_loop_others_in_a_thread() -> None:
    class AsyncCallable:
        async def __call__(self, job: JobInfo) -> int:
            return threading.get_ident()

    async def coroutine_function(job: JobInfo) -> int:
        return threading.get_ident()

    def plain(job: JobInfo) -> int:
        return threading.get_ident()

    def returns_a_coroutine(job: JobInfo) -> object:
        return coroutine_function(job)

    threads = DaemonThreads(2)
    job = delivered(0, 1)
    here = threading.get_ident()
    try:
        assert is_async(AsyncCallable()) and is_async(coroutine_function) and not is_async(plain)
        assert await call(AsyncCallable(), job, threads) == here
        assert await call(coroutine_function, job, threads) == here
        assert await call(plain, job, threads) != here
        assert await call(returns_a_coroutine, job, threads) == here  # awaited back on the loop
    finally:
        threads.close()


async def test_daemon_threads_pass_exceptions_back_and_outlive_a_cancelled_caller() -> None:
    threads = DaemonThreads(1)
    release = threading.Event()

    def boom() -> None:
        raise KeyError("k")

    try:
        with pytest.raises(KeyError):
            await threads.run(boom)
        waiting = asyncio.ensure_future(threads.run(release.wait, 10))
        await asyncio.sleep(0)  # let it be handed to the thread
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()  # the abandoned call ends; its result goes nowhere
        assert await threads.run(lambda: 42) == 42  # and the thread serves the next one
    finally:
        threads.close()


def test_the_cli_loads_a_dict_or_a_worker_and_refuses_anything_else() -> None:
    from_dict = load_worker("tests.integration.sdk.cli_handlers:handlers")
    from_worker = load_worker("tests.integration.sdk.cli_handlers:worker")

    assert set(from_dict.handlers) == {"cli_send", "cli_explode"}
    assert (from_worker.worker_id, from_worker.concurrency) == ("from-the-module", 2)
    with pytest.raises(ValueError, match="MODULE:NAME"):
        load_worker("tests.integration.sdk.cli_handlers")
    with pytest.raises(TypeError, match="not a dict of handlers"):
        load_worker("tests.integration.sdk.cli_handlers:not_handlers")
    with pytest.raises(AttributeError):
        load_worker("tests.integration.sdk.cli_handlers:nothing")


def test_retry_in_takes_seconds_or_a_timedelta_and_keeps_its_message() -> None:
    assert (RetryIn(90, "rate limited").seconds, str(RetryIn(90, "rate limited"))) == (90.0, "rate limited")
    assert RetryIn(timedelta(minutes=5)).seconds == 300.0
    assert str(RetryIn(2.5)) == "retry in 2.5 s"  # a message even when none is given
    assert str(NoRetry("card declined")) == "card declined"


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
def test_retry_in_refuses_a_wait_that_is_not_a_finite_span(seconds: float) -> None:
    with pytest.raises(ValueError, match="RetryIn needs a finite number of seconds >= 0"):
        RetryIn(seconds)


def timed(job: JobInfo, timeout: float | None, deadline: float | None) -> JobInfo:
    at = None if deadline is None else datetime.fromtimestamp(deadline, UTC)
    return dataclasses.replace(job, timeout=timeout, attempt_deadline=at)


def test_the_workers_own_deadline_is_the_jobs_timeout_from_delivery_whatever_the_clocks() -> None:
    job = timed(delivered(1000, 1300), timeout=30, deadline=1030)

    assert attempt_time_left(job, now=1000.1) == 30  # never before the server's deadline
    assert attempt_time_left(job, now=990) == 30  # a client clock behind does not stretch it
    assert attempt_time_left(job, now=1020) == 30  # nor does one ahead cut it short


def test_with_the_servers_default_timeout_the_deadline_is_read_by_the_clients_clock() -> None:
    assert attempt_time_left(timed(delivered(1000, 1300), None, 1060), now=1000.5) == 59.5
    assert attempt_time_left(timed(delivered(1000, 1300), None, 1060), now=1070) == 0.0
    assert attempt_time_left(timed(delivered(1000, 1300), None, None), now=1000) is None


async def test_a_running_job_is_its_job_info_and_says_when_it_was_stopped() -> None:
    stop = StopFlag()
    job = RunningJob.delivered(delivered(1000, 1300), stop)
    seen: list[bool] = []
    waiting = asyncio.ensure_future(asyncio.to_thread(lambda: seen.append(job.wait_cancelled(PATIENCE))))

    assert isinstance(job, JobInfo) and (job.id, job.lease_token, job.worker_id) == ("j", 1, "w")
    assert (job.cancelled, job.stop_reason, job.wait_cancelled(0)) == (False, None, False)
    stop.set("timed_out")
    await asyncio.wait_for(waiting, PATIENCE)
    assert (job.cancelled, job.stop_reason, seen) == (True, "timed_out", [True])
    assert "StopFlag" not in repr(job)
