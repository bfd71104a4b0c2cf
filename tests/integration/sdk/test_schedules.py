"""Schedules from the SDK against a real server: AsyncClient and the blocking Client."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

import stackduck
from stackduck import AsyncClient, ScheduleInfo, ScheduleNotFound
from stackduck.domain.errors import InvalidJob, JobNotFound
from tests.integration.conftest import Running
from tests.integration.sdk.conftest import PATIENCE, memory_only

# The calls that reach storage run on every configuration; those about the client alone
# (its checks, the blocking wrapper) on the in-memory server.


async def test_schedule_creates_lists_and_replaces(client: AsyncClient) -> None:
    made = await client.schedule(
        "nightly-report",
        "report",
        {"month": "current"},
        cron="30 2 * * *",
        timezone="Europe/Berlin",
        catch_up=False,
        priority=1,
        retry_limit=0,
        timeout=timedelta(minutes=5),
        metadata={"tenant": "acme"},
    )

    assert isinstance(made, ScheduleInfo) and dataclasses.is_dataclass(made)
    assert (made.name, made.job_type, made.cron, made.every) == (
        "nightly-report",
        "report",
        "30 2 * * *",
        None,
    )
    assert (made.timezone, made.catch_up, made.paused, made.last_run) == ("Europe/Berlin", False, False, None)
    assert (made.payload, made.priority, made.max_retries, made.timeout) == (
        {"month": "current"},
        1,
        0,
        300.0,
    )
    assert made.metadata == {"tenant": "acme"} and made.rule == "cron 30 2 * * * (Europe/Berlin)"
    assert made.next_run is not None and made.next_run > datetime.now(UTC)
    assert made.next_run.minute == 30  # 02:30 in Berlin is hh:30 in UTC
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.paused = True  # type: ignore[misc]

    again = await client.schedule("nightly-report", "report", {"month": "last"}, cron="30 2 * * *",
                                  timezone="Europe/Berlin")  # fmt: skip
    assert again.next_run == made.next_run and again.payload == {"month": "last"} and again.catch_up

    assert [s.name for s in await client.schedules()] == ["nightly-report"]


async def test_a_schedule_every_second_enqueues_jobs_a_worker_gets(client: AsyncClient) -> None:
    made = await client.schedule("heartbeat", "ping", every=timedelta(seconds=1), group="tenant-9")
    assert made.group == "tenant-9"

    jobs = client.consume("w", ["ping"])
    try:
        job = await asyncio.wait_for(anext(jobs), PATIENCE)
    finally:
        await jobs.aclose()
    assert job.idempotency_key is not None and job.idempotency_key.startswith("schedule:heartbeat:")
    assert job.scheduled_at is not None
    assert job.idempotency_key.endswith(job.scheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert job.group == "tenant-9"  # the schedule's group
    [listed] = await client.schedules()
    assert listed.last_run is not None and listed.rule == "every 1 s" and listed.group == "tenant-9"


async def test_pause_resume_and_unschedule(client: AsyncClient) -> None:
    await client.schedule("hourly", "sync", every=3600)

    paused = await client.pause_schedule("hourly")
    assert paused.paused and paused.next_run is None
    resumed = await client.resume_schedule("hourly")
    assert not resumed.paused and resumed.next_run is not None

    got = await client.get_schedule("hourly")
    assert (got.name, got.every, got.paused, got.created_at) == ("hourly", 3600, False, resumed.created_at)
    await client.unschedule("hourly")
    assert await client.schedules() == []
    with pytest.raises(ScheduleNotFound, match="no schedule named 'hourly'"):
        await client.get_schedule("hourly")
    with pytest.raises(ScheduleNotFound, match="no schedule named 'hourly'") as missing:
        await client.unschedule("hourly")
    assert not isinstance(missing.value, JobNotFound)
    for change in (client.pause_schedule, client.resume_schedule):
        with pytest.raises(ScheduleNotFound):
            await change("hourly")


@memory_only
@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "give cron"),
        ({"cron": "* * * * *", "every": 5}, "not both"),
        ({"every": 0.5}, "every must be a whole number of seconds"),
        ({"every": 0}, "every must be a whole number of seconds"),
        ({"cron": "every day"}, "must be 5 fields"),
        ({"cron": "0 3 * * *", "timezone": "Berlin"}, "IANA time zone"),
        ({"every": 60, "priority": 9}, "priority must be 1"),
    ],
)
async def test_bad_schedules_are_invalid_job(
    client: AsyncClient, options: dict[str, object], words: str
) -> None:
    with pytest.raises(InvalidJob, match=words):
        await client.schedule("s", "t", **options)  # type: ignore[arg-type]
    assert await client.schedules() == []


@memory_only
async def test_the_blocking_client_has_the_same_calls(server: Running) -> None:
    def script() -> list[ScheduleInfo]:
        with stackduck.Client(server.address) as client:
            made = client.schedule("daily", "cleanup", cron="0 4 * * *")
            assert made.next_run is not None and made.next_run.hour == 4
            assert client.pause_schedule("daily").paused
            assert not client.resume_schedule("daily").paused
            listed = client.schedules()
            client.unschedule("daily")
            with pytest.raises(ScheduleNotFound):
                client.unschedule("daily")
            return listed

    listed = await asyncio.to_thread(script)  # as from a thread with no event loop

    assert [s.name for s in listed] == ["daily"]
