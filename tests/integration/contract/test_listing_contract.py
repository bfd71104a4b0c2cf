"""Listing jobs on every storage configuration: each filter of the jobs browser, alone and
together, and each order, page after page."""

from __future__ import annotations

import json

import pytest

from stackduck.application.ports import Change, JobQuery, Order
from stackduck.domain.errors import InvalidJob
from stackduck.domain.job import Job, JobStatus
from stackduck.domain.retry import RetryPolicy
from tests.integration.contract.conftest import NOW, Ports

LATER = NOW + 3600


async def every_page(ports: Ports, query: JobQuery, limit: int) -> list[str]:
    """The ids of every page, in order, following the cursors."""
    ids: list[str] = []
    cursor = ""
    for _ in range(1000):
        page = await ports.store.list_jobs(query, limit, cursor, 10**9)
        assert len(page.jobs) <= limit
        ids += [job.id for job in page.jobs]
        cursor = page.next_cursor
        if not cursor:
            return ids
    raise AssertionError("the cursor never ends")


@pytest.fixture
async def mix(ports: Ports) -> dict[str, Job]:
    """A mix to filter: types, priorities, groups, metadata, due now or later, and a dead
    letter."""
    acme, zeta = json.dumps({"tenant": "acme"}), json.dumps({"tenant": "zeta"})
    made = {
        "mail-1": ports.job("mail", 1, metadata=acme),
        "mail-3": ports.job("mail", 3, run_at=NOW - 50, metadata=zeta),
        "mail-later": ports.job("mail", 2, run_at=LATER),
        "pdf-group": ports.job("pdf", 2, run_at=NOW - 10, group_key="acme", metadata=acme),
        "pdf-2": ports.job("pdf", 2, run_at=NOW - 30),
        "pdf-dead": ports.job("pdf", 2, max_retries=0),
    }  # fmt: skip
    await ports.add(*made.values())
    current = made["pdf-dead"]
    started = current.copy()
    started.start("w", NOW, 30)
    assert await ports.store.apply([Change(started, current.version)]) == [True]
    dead = started.copy()
    dead.fail("w", None, NOW, "no", RetryPolicy())
    assert await ports.store.apply([Change(dead, started.version)]) == [True]
    assert dead.status is JobStatus.FAILED
    return made


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (JobQuery(), ["mail-1", "mail-3", "mail-later", "pdf-group", "pdf-2", "pdf-dead"]),
        (JobQuery(job_type="pdf"), ["pdf-group", "pdf-2", "pdf-dead"]),
        (JobQuery(priority=2), ["mail-later", "pdf-group", "pdf-2", "pdf-dead"]),
        (JobQuery(group="acme"), ["pdf-group"]),
        (JobQuery(group=""), ["mail-1", "mail-3", "mail-later", "pdf-2", "pdf-dead"]),
        (JobQuery(scheduled=True, now=NOW), ["mail-later"]),
        (JobQuery(scheduled=False, now=NOW), ["mail-1", "mail-3", "pdf-group", "pdf-2", "pdf-dead"]),
        (JobQuery(metadata=("tenant", "acme")), ["mail-1", "pdf-group"]),
        (JobQuery(metadata=("tenant", "nobody")), []),
        (JobQuery(status=JobStatus.FAILED), ["pdf-dead"]),
        (JobQuery(job_type="mail", priority=2, scheduled=True, now=NOW), ["mail-later"]),
        (JobQuery(job_type="pdf", metadata=("tenant", "acme"), status=JobStatus.QUEUED), ["pdf-group"]),
        (JobQuery(status=JobStatus.FAILED, scheduled=True, now=NOW), []),  # waiting means queued
    ],
    ids=lambda value: repr(value) if isinstance(value, JobQuery) else "",
)
async def test_each_filter_keeps_the_jobs_it_names(
    ports: Ports, mix: dict[str, Job], query: JobQuery, expected: list[str]
) -> None:
    by_id = {job.id: name for name, job in mix.items()}

    found = [by_id[i] for i in await every_page(ports, query, 2)]

    assert found == sorted(expected, key=lambda name: mix[name].id)
    assert await ports.store.count_jobs(query) == len(expected)  # what a bulk action confirms


async def test_newest_first_is_oldest_first_reversed(ports: Ports, mix: dict[str, Job]) -> None:
    oldest = await every_page(ports, JobQuery(), 4)
    newest = await every_page(ports, JobQuery(order=Order.NEWEST), 4)

    assert newest == oldest[::-1] and len(newest) == 6
    assert await every_page(ports, JobQuery(order=Order.NEWEST, job_type="mail"), 1) == [
        mix[name].id for name in ("mail-later", "mail-3", "mail-1")
    ]


async def test_due_order_lists_queued_jobs_soonest_first_over_priorities_groups_and_later(
    ports: Ports, mix: dict[str, Job]
) -> None:
    by_id = {job.id: name for name, job in mix.items()}

    due = [by_id[i] for i in await every_page(ports, JobQuery(order=Order.DUE), 2)]

    assert due == ["mail-3", "pdf-2", "pdf-group", "mail-1", "mail-later"]
    assert [by_id[i] for i in await every_page(ports, JobQuery(order=Order.DUE, priority=2), 1)] == [
        "pdf-2", "pdf-group", "mail-later",
    ]  # fmt: skip


async def test_due_order_pages_through_many_jobs_due_at_once(ports: Ports) -> None:
    """More jobs due in one millisecond than a set read takes at first (Redis alone reads
    more until it passes them), and some due later, in groups and not."""
    same = [ports.job("burst", 2) for _ in range(150)]
    grouped = [ports.job("burst", 1, group_key=f"g{i % 3}") for i in range(20)]
    later = [ports.job("burst", 3, run_at=NOW + i) for i in range(1, 6)]
    await ports.add(*same, *grouped, *later)

    listed = await every_page(ports, JobQuery(order=Order.DUE, job_type="burst"), 7)

    everyone = sorted([*same, *grouped], key=lambda j: j.id) + later
    assert listed == [job.id for job in everyone]


async def test_a_cursor_not_handed_out_is_refused(ports: Ports) -> None:
    with pytest.raises(InvalidJob, match="page_token"):
        await ports.store.list_jobs(JobQuery(order=Order.DUE), 10, "tomorrow", 10**9)
