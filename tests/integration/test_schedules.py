"""Periodic schedules over gRPC on every storage configuration: each tick is delivered
once, within a second of its time, however many instances run; schedules survive a
restart, a downtime gives one job, pauses reach every instance; bad input is refused."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import grpc
import pytest

from stackduck.application.ports import JobQuery
from stackduck.container import provide
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.conftest import one_process
from tests.integration.conftest import Running, ServerFactory

pytestmark = pytest.mark.slow


def put(
    name: str, every: int = 0, cron: str = "", timezone: str = "", **job: object
) -> pb.PutScheduleRequest:
    job.setdefault("job_type", "tick")
    job.setdefault("payload", '{"from": "schedule"}')
    template = pb.EnqueueJobRequest(**job)  # type: ignore[arg-type]
    return pb.PutScheduleRequest(name=name, job=template, every_seconds=every, cron=cron, timezone=timezone)


async def ticks(server: Running, job_type: str = "tick") -> list[pb.Job]:
    reply = await server.stub.ListJobs(pb.ListJobsRequest(job_type=job_type, limit=1000))
    return sorted(reply.jobs, key=lambda job: job.scheduled_at)


async def stop(server: Running) -> None:
    """Stop a server: its port and its loops (the fire loop among them). Its storage
    connections close with the fixture, after a health check that still needs them."""
    await server.server.stop(0)


def shared(storage_settings: dict[str, str]) -> None:
    if one_process(storage_settings):
        pytest.skip("one process owns this storage: there is no second instance to share it")


async def test_each_tick_is_delivered_once_within_a_second_of_its_time(server: Running) -> None:
    reply = await server.stub.PutSchedule(put("every-second", every=1))
    assert reply.created and reply.schedule.next_run_at >= int(time.time())
    stream = server.stub.ConsumeJobs(
        pb.ConsumeJobsRequest(worker_id="w", job_types=["tick"], max_in_flight=10)
    )
    lateness = []
    try:
        for _ in range(4):
            message = await asyncio.wait_for(stream.read(), 5)
            lateness.append(time.time() - message.job.scheduled_at)  # the tick: a whole second
            await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=message.job.id))
    finally:
        stream.cancel()

    assert max(lateness) < 1.0, lateness
    assert min(lateness) >= 0  # never before its tick
    jobs = await ticks(server)
    keys = [job.idempotency_key for job in jobs]
    assert len(keys) == len(set(keys)) >= 4
    tick = jobs[0].scheduled_at
    assert keys[0] == f"schedule:every-second:{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(tick))}"
    assert jobs[0].payload == '{"from": "schedule"}'


async def test_get_schedule_answers_one_by_name_as_listed(server: Running) -> None:
    await server.stub.PutSchedule(put("nightly", cron="30 2 * * *", timezone="Europe/Berlin", group="acme"))
    await server.stub.PutSchedule(put("often", every=60))

    got = (await server.stub.GetSchedule(pb.ScheduleName(name="nightly"))).schedule
    listed = (await server.stub.ListSchedules(pb.ListSchedulesRequest())).schedules

    assert got == listed[0] and (got.cron, got.timezone, got.group) == ("30 2 * * *", "Europe/Berlin", "acme")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await server.stub.GetSchedule(pb.ScheduleName(name="bad name!"))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_two_instances_on_shared_storage_never_fire_a_tick_twice(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    shared(storage_settings)
    one: Running = await start_server()
    two: Running = await start_server()
    await one.stub.PutSchedule(put("shared", every=1))

    await asyncio.sleep(4.5)
    await two.stub.DeleteSchedule(pb.ScheduleName(name="shared"))

    jobs = await ticks(one)
    seconds = [job.scheduled_at for job in jobs]
    assert len(seconds) >= 3 and Counter(seconds).most_common(1)[0][1] == 1, seconds
    assert len({job.idempotency_key for job in jobs}) == len(jobs)


async def test_a_schedule_made_on_one_instance_fires_from_another(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    shared(storage_settings)
    one: Running = await start_server()
    two: Running = await start_server()
    await one.stub.PutSchedule(put("elsewhere", every=1))
    await stop(one)  # only the other instance's loop is left, and it was not told

    await asyncio.sleep(2.6)

    assert len(await ticks(two)) >= 1


async def test_a_pause_holds_on_every_instance_and_a_resume_reaches_them(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    shared(storage_settings)
    one: Running = await start_server()
    two: Running = await start_server()
    await one.stub.PutSchedule(put("held", every=1))
    await asyncio.sleep(1.5)

    paused = await two.stub.PauseSchedule(pb.ScheduleName(name="held"))
    paused_at = time.time()
    assert paused.schedule.paused and paused.schedule.next_run_at == 0
    await asyncio.sleep(2.2)
    assert [j for j in await ticks(one) if j.scheduled_at > paused_at] == []

    await two.stub.ResumeSchedule(pb.ScheduleName(name="held"))
    await stop(two)  # the instance that was not told must fire
    await asyncio.sleep(2.2)
    assert [j for j in await ticks(one) if j.scheduled_at > paused_at]
    [listed] = (await one.stub.ListSchedules(pb.ListSchedulesRequest())).schedules
    assert not listed.paused and listed.last_run_at > paused_at


async def test_schedules_survive_a_restart_and_a_downtime_gives_one_job(
    start_server: ServerFactory, storage_settings: dict[str, str]
) -> None:
    shared(storage_settings)
    first: Running = await start_server()
    nightly = put("nightly", cron="30 2 * * *", timezone="Europe/Berlin", priority=1, timeout_seconds=90)
    nightly.catch_up = False
    await first.stub.PutSchedule(nightly)
    await first.stub.PutSchedule(put("often", every=1))
    await asyncio.sleep(1.2)
    before = await first.stub.ListSchedules(pb.ListSchedulesRequest())
    await stop(first)  # its fire loop is stopped: no tick fires after this read
    listed = await (await provide(first.container.job_admin)).list_jobs(JobQuery(job_type="tick"), 1000)
    last_fired = max(int(job.run_at) for job in listed.jobs)

    await asyncio.sleep(4)  # four ticks go by with no server
    restarted_at = time.time()
    second: Running = await start_server()
    await asyncio.sleep(2.5)

    after = await second.stub.ListSchedules(pb.ListSchedulesRequest())
    assert [s.name for s in after.schedules] == ["nightly", "often"]
    assert after.schedules[0] == before.schedules[0]  # untouched: its tick is hours away
    assert (after.schedules[0].timezone, after.schedules[0].catch_up) == ("Europe/Berlin", False)
    seconds = [job.scheduled_at for job in await ticks(second)]
    missed = [tick for tick in seconds if last_fired < tick < restarted_at]
    assert len(missed) == 1, seconds  # one job for the ticks missed, never one per tick
    assert max(seconds) > restarted_at  # and on every second again


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (put("a", every=1, cron="* * * * *"), "give cron or every, not both"),
        (put("a"), "give cron (a 5-field expression"),
        (put("a", every=-3), "every_seconds must be at least 1"),
        (put("a", cron="0 25 * * *"), "bad hour"),
        (put("a", cron="0 3 * *"), "must be 5 fields"),
        (put("a", cron="0 3 * * *", timezone="Europe/Nowhere"), "IANA time zone"),
        (put("no spaces please", every=1), "schedule name must be"),
        (put("a", every=1, payload="not json"), "payload must be a JSON text"),
        (put("a", every=1, job_type=""), "job_type must not be empty"),
        (put("a", every=1, idempotency_key="k"), "job.idempotency_key must be empty"),
        (put("a", every=1, scheduled_in=5), "job.scheduled_in must be empty"),
    ],
)
async def test_a_bad_schedule_is_refused_saying_what_to_fix(
    server: Running, request_: pb.PutScheduleRequest, words: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await server.stub.PutSchedule(request_)

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert words in (refused.value.details() or "")
    assert list((await server.stub.ListSchedules(pb.ListSchedulesRequest())).schedules) == []


async def test_an_unknown_name_is_not_found(server: Running) -> None:
    calls = (
        server.stub.GetSchedule,
        server.stub.DeleteSchedule,
        server.stub.PauseSchedule,
        server.stub.ResumeSchedule,
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call(pb.ScheduleName(name="ghost"))
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND
        assert "no schedule named 'ghost'" in (missing.value.details() or "")
