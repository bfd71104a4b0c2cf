"""Limits from the SDK against a real server: AsyncClient and the blocking Client."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

import stackduck
from stackduck import AsyncClient, InvalidJob, JobInfo, LimitInfo
from tests.integration.conftest import Running
from tests.integration.sdk.conftest import PATIENCE, memory_only

# The calls that reach storage run on every configuration; those about the client alone
# (its checks, the blocking wrapper) on the in-memory server.


async def test_set_limit_creates_lists_and_replaces_the_whole_limit(client: AsyncClient) -> None:
    made = await client.set_limit("mail", concurrency=3)

    assert isinstance(made, LimitInfo) and dataclasses.is_dataclass(made)
    assert made == LimitInfo("mail", 3, None, 1.0, None, 0, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.concurrency = 4  # type: ignore[misc]

    rated = await client.set_limit("api", rate=5, per=timedelta(minutes=1), burst=2)
    assert (rated.concurrency, rated.rate, rated.per, rated.burst, rated.tokens) == (None, 5.0, 60.0, 2, 2.0)
    both = await client.set_limit("mail", concurrency=2, rate=10)
    assert (both.concurrency, both.rate, both.per, both.burst, both.tokens) == (2, 10.0, 1.0, 10, 10.0)

    replaced = await client.set_limit("mail", rate=10)  # what is not given is not limited
    assert (replaced.concurrency, replaced.rate) == (None, 10.0)
    assert [(i.job_type, i.concurrency, i.rate) for i in await client.limits()] == [
        ("api", None, 5.0),
        ("mail", None, 10.0),
    ]


async def test_running_counts_real_jobs_and_clearing_lets_held_ones_go(client: AsyncClient) -> None:
    await client.set_limit("mail", concurrency=2)
    ids = [await client.enqueue("mail", {"n": n}) for n in range(4)]
    jobs = client.consume("w", ["mail"], max_in_flight=10)
    try:
        first = [await asyncio.wait_for(anext(jobs), PATIENCE) for _ in range(2)]
        held = asyncio.ensure_future(anext(jobs))
        await asyncio.sleep(0.3)
        assert not held.done()  # the stream has room; the limit holds the rest back
        [info] = await client.limits()
        assert (info.job_type, info.running, info.concurrency) == ("mail", 2, 2)

        assert await client.clear_limit("mail") is True
        rest = [await asyncio.wait_for(held, PATIENCE), await asyncio.wait_for(anext(jobs), PATIENCE)]
    finally:
        await jobs.aclose()

    delivered = [job for job in [*first, *rest] if isinstance(job, JobInfo)]
    assert [job.id for job in delivered] == ids  # in their order
    assert await client.limits() == []
    assert await client.clear_limit("mail") is False


@memory_only
@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "needs concurrency"),
        ({"concurrency": 0}, "concurrency must be a whole number, at least 1"),
        ({"concurrency": 2.5}, "concurrency must be a whole number"),
        ({"concurrency": True}, "concurrency must be a whole number"),
        ({"concurrency": 2_000_000}, "concurrency must be 1 to 1,000,000"),
        ({"concurrency": 2**40}, "cannot send a limit on 'mail'"),
        ({"rate": 0}, "rate must be a number above 0"),
        ({"rate": float("nan")}, "rate must be a number above 0"),
        ({"rate": float("inf")}, "rate must be above 0 and at most 1,000,000"),
        ({"rate": "5"}, "rate must be a number above 0"),
        ({"rate": 5, "per": 0}, "per must be a number above 0"),
        ({"rate": 5, "per": 100_000}, "per must be 0.001 to 86,400 seconds"),
        ({"rate": 5, "burst": 0}, "burst must be a whole number, at least 1"),
        ({"concurrency": 1, "burst": 3}, "give rate with them"),
        ({"concurrency": 1, "per": 60}, "give rate with them"),
    ],
)
async def test_a_bad_limit_is_invalid_job_and_changes_nothing(
    client: AsyncClient, options: dict[str, Any], words: str
) -> None:
    await client.set_limit("mail", concurrency=7)

    with pytest.raises(InvalidJob, match=words):
        await client.set_limit("mail", **options)

    assert [(i.job_type, i.concurrency, i.rate) for i in await client.limits()] == [("mail", 7, None)]


@memory_only
async def test_a_limit_on_an_empty_job_type_is_refused(client: AsyncClient) -> None:
    with pytest.raises(InvalidJob, match="job_type must not be empty"):
        await client.set_limit("", concurrency=1)
    with pytest.raises(InvalidJob, match="job_type must not be empty"):
        await client.clear_limit("")


@memory_only
async def test_the_blocking_client_has_the_same_calls(server: Running) -> None:
    def script() -> tuple[LimitInfo, list[LimitInfo], bool, bool]:
        with stackduck.Client(server.address) as client:
            made = client.set_limit("report", concurrency=1, rate=2.5, per=10, burst=4)
            listed = client.limits()
            with pytest.raises(InvalidJob, match="needs concurrency"):
                client.set_limit("report")
            return made, listed, client.clear_limit("report"), client.clear_limit("report")

    made, listed, cleared, again = await asyncio.to_thread(script)  # from a thread with no loop

    assert made == LimitInfo("report", 1, 2.5, 10.0, 4, 0, 4.0)
    assert listed == [made]
    assert (cleared, again) == (True, False)


async def test_groups_take_turns_and_group_concurrency_caps_each(client: AsyncClient) -> None:
    made = await client.set_limit("render", group_concurrency=1)
    assert (made.group_concurrency, made.concurrency, made.rate) == (1, None, None)
    for _ in range(3):
        await client.enqueue("render", {"tenant": "big"}, group="big")
    small = await client.enqueue("render", {"tenant": "small"}, group="small")
    assert (await client.get(small)).group == "small"

    got = [job async for job in _take(client, "render", 2)]
    assert sorted(job.group or "" for job in got) == ["big", "small"]  # one each: the cap
    with pytest.raises(InvalidJob, match="group_concurrency must be a whole number"):
        await client.set_limit("render", group_concurrency=0)


async def _take(client: AsyncClient, job_type: str, count: int) -> Any:
    async with asyncio.timeout(PATIENCE):
        async for job in client.consume("sdk-w", [job_type], max_in_flight=10):
            assert isinstance(job, JobInfo)
            yield job
            count -= 1
            if not count:
                return
