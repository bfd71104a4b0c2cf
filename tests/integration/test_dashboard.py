"""The dashboard in a real headless Chromium, against a real server."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running
from tests.services import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("storage_settings", ["memory"], indirect=True)]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


#: Where the dashboard tests leave screenshots for a reviewer (CI keeps the folder).
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"


async def shot(page: object, name: str) -> None:
    """A full-page screenshot, test-output/dashboard/<name>.png."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


@pytest.fixture
async def page() -> AsyncIterator[object]:
    executable = shutil.which("chromium") or os.environ.get("STACKDUCK_CHROMIUM")
    if executable is None:
        unavailable("Chromium", "no chromium on PATH (Debian: apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def test_the_dashboard_shows_jobs_and_requeues_a_dead_letter(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    fresh = await server.enqueue("newsletter", '{"to": "all"}', priority=1)
    dead = await server.enqueue("invoice")
    held = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="invoice", worker_id="w"))).job
    await server.stub.FailJob(
        pb.FailJobRequest(
            job_id=dead, lease_token=held.lease_token, no_retry=True, error_message="printer on fire"
        )
    )

    await page.goto(server.http.url + "/")

    await expect(page.locator("#queues tbody")).to_contain_text("newsletter")
    await page.fill("#job-id", fresh)
    await page.click("#lookup button")
    await expect(page.locator("#job")).to_contain_text('"status": "queued"')
    await expect(page.locator("#job")).to_contain_text(fresh)
    await expect(page.locator("#dead tbody")).to_contain_text("printer on fire")

    await page.click(f'button.requeue[data-job="{dead}"]')

    await expect(page.locator("#dead tbody")).not_to_contain_text(dead)
    await shot(page, "overview")
    job = await server.job(dead)
    assert (job.status, job.retry_count) == ("queued", 0)


async def finished_twice(server: Running) -> str:
    """A job with metadata, a timeout and a group whose first attempt failed and second
    completed with a result."""
    metadata = {"tenant": "acme", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    job_id = await server.enqueue(
        "report", '{"month": 11}', timeout_seconds=90, metadata=metadata, group="acme"
    )
    first = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="report", worker_id="w-1"))).job
    await server.stub.FailJob(
        pb.FailJobRequest(job_id=job_id, lease_token=first.lease_token, error_message="<b>db away</b>")
    )
    await server.stub.DequeueRetriedJob(pb.DequeueRetriedJobRequest(job=pb.Job(id=job_id)))
    second = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="report", worker_id="w-2"))).job
    await server.stub.CompleteJob(
        pb.CompleteJobRequest(job_id=job_id, lease_token=second.lease_token, result='{"rows": 3}')
    )
    return job_id


async def test_the_job_api_has_result_metadata_timeout_and_attempts(server: Running) -> None:
    job_id = await finished_twice(server)
    async with aiohttp.ClientSession() as http, http.get(f"{server.http.url}/api/jobs/{job_id}") as response:
        job = await response.json()

    assert (job["status"], job["result"], job["timeout"], job["attempt_deadline"], job["group"]) == (
        "completed", '{"rows": 3}', 90.0, None, "acme",
    )  # fmt: skip
    assert job["metadata"]["tenant"] == "acme" and set(job["metadata"]) == {"tenant", "traceparent"}
    assert [(a["number"], a["worker_id"], a["outcome"], a["error"]) for a in job["attempts"]] == [
        (1, "w-1", "failed", "<b>db away</b>"),
        (2, "w-2", "completed", ""),
    ]
    assert all(a["started_at"] <= a["ended_at"] for a in job["attempts"])


async def test_the_job_view_shows_result_metadata_and_attempts(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    job_id = await finished_twice(server)
    await page.goto(server.http.url + "/")

    await page.fill("#job-id", job_id)
    await page.click("#lookup button")

    await expect(page.locator("#job-result")).to_have_text('{"rows": 3}')
    await expect(page.locator("#job-timeout")).to_have_text("90 s")
    await expect(page.locator("#job-group")).to_have_text("acme")
    metadata = page.locator("#job-metadata tbody tr")
    await expect(metadata).to_have_count(2)
    await expect(metadata.nth(0)).to_contain_text("tenant")
    await expect(metadata.nth(0)).to_contain_text("acme")
    await expect(metadata.nth(1)).to_contain_text("traceparent")
    attempts = page.locator("#job-attempts tbody tr")
    await expect(attempts).to_have_count(2)
    await expect(attempts.nth(0).locator("td").nth(4)).to_have_text("failed")
    await expect(attempts.nth(0).locator("td").nth(5)).to_have_text("<b>db away</b>")  # as text, not HTML
    await expect(attempts.nth(0).locator("td").nth(1)).to_have_text("w-1")
    await expect(attempts.nth(1).locator("td").nth(4)).to_have_text("completed")
    events = page.locator("#job-timeline li")  # in order: enqueued, two attempts, the result
    await expect(events).to_have_count(6)
    await expect(events.nth(0)).to_contain_text("enqueued (type report, priority 2)")
    await expect(events.nth(1)).to_contain_text("attempt 1 started on w-1")
    await expect(events.nth(2)).to_contain_text("attempt 1 failed: <b>db away</b>")
    await expect(events.nth(3)).to_contain_text("attempt 2 started on w-2")
    await expect(events.nth(5)).to_contain_text('completed with result {"rows": 3}')
    await shot(page, "job-view")

    await page.fill("#job-id", "no-such-job")
    await page.click("#lookup button")
    await expect(page.locator("#job")).to_contain_text("no job with id")
    await expect(page.locator("#job-detail")).to_be_hidden()


async def scheduled(server: Running) -> None:
    """A schedule every hour, and one that fired."""
    template = pb.EnqueueJobRequest(job_type="sync", payload="{}")
    grouped = pb.EnqueueJobRequest(job_type="sync", payload="{}", group="acme")
    await server.stub.PutSchedule(pb.PutScheduleRequest(name="hourly-sync", job=grouped, every_seconds=3600))
    await server.stub.PutSchedule(
        pb.PutScheduleRequest(name="each-second", job=template, every_seconds=1, cron="")
    )


async def test_the_schedule_api_lists_pauses_and_resumes(server: Running) -> None:
    await scheduled(server)
    headers = {"X-Stackduck": "1"}
    async with aiohttp.ClientSession(server.http.url) as http:
        async with http.get("/api/schedules") as response:
            listed = await response.json()
        async with http.post("/api/schedules/hourly-sync/pause", headers=headers) as response:
            paused = await response.json()
        async with http.post("/api/schedules/ghost/pause", headers=headers) as response:
            missing = (response.status, await response.json())
        async with http.post("/api/schedules/hourly-sync/resume", json={"x": 1}, headers=headers) as response:
            refused = response.status

    assert [s["name"] for s in listed] == ["each-second", "hourly-sync"]
    hourly = listed[1]
    assert (hourly["job_type"], hourly["rule"], hourly["every"], hourly["paused"], hourly["group"]) == (
        "sync", "every 3600 s", 3600, False, "acme",
    )  # fmt: skip
    assert listed[0]["group"] is None
    assert hourly["next_run"] % 3600 == 0 and hourly["last_run"] is None
    assert (paused["paused"], paused["next_run"]) == (True, None)
    assert missing == (404, {"error": "no schedule named 'ghost'"})
    assert refused == 400
    [stored] = [s for s in (await server.stub.ListSchedules(pb.ListSchedulesRequest())).schedules if s.paused]
    assert stored.name == "hourly-sync"


async def test_the_dashboard_shows_schedules_and_pauses_one(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await scheduled(server)
    await page.goto(server.http.url + "/")

    rows = page.locator("#schedules tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(1)).to_contain_text("hourly-sync")
    await expect(rows.nth(1)).to_contain_text("every 3600 s")
    await expect(rows.nth(1).locator("td").nth(2)).to_have_text("acme")  # its jobs' group
    await expect(rows.nth(0).locator("td").nth(2)).to_have_text("")
    await expect(rows.nth(1).locator("td").nth(5)).to_have_text("never")
    await expect(rows.nth(0).locator("td").nth(5)).not_to_have_text("never")  # it fired meanwhile

    await page.click('button.pause[data-schedule="hourly-sync"]')

    await expect(rows.nth(1)).to_contain_text("(paused)")
    [listed] = [s for s in (await server.stub.ListSchedules(pb.ListSchedulesRequest())).schedules if s.paused]
    assert listed.name == "hourly-sync"
    await page.click('button.resume[data-schedule="hourly-sync"]')
    await expect(rows.nth(1)).not_to_contain_text("(paused)")


async def limited(server: Running) -> list[pb.Job]:
    """A type whose path needs encoding, at most 2 running and 10 starts an hour from a
    bucket of 5, with 3 jobs of which 2 run; and a type limited to 4 at once."""
    stub = server.stub
    await stub.SetLimit(
        pb.SetLimitRequest(job_type="mail/eu west", concurrency=2, rate=10, per=3600, burst=5)
    )
    await stub.SetLimit(pb.SetLimitRequest(job_type="api", concurrency=4, group_concurrency=2))
    for _ in range(3):
        await server.enqueue("mail/eu west")
    taken = [
        await stub.DequeueJob(pb.DequeueJobRequest(queue_name="mail/eu west", worker_id="w"))
        for _ in range(3)
    ]
    assert [reply.success for reply in taken] == [True, True, False]  # the third is held
    return [reply.job for reply in taken[:2]]


async def test_the_limit_api_lists_and_clears_by_encoded_job_type(server: Running) -> None:
    await limited(server)
    headers = {"X-Stackduck": "1"}
    async with aiohttp.ClientSession(server.http.url) as http:
        async with http.get("/api/limits") as response:
            listed = await response.json()
        async with http.post(
            "/api/limits/mail%2Feu%20west/clear", json={"x": 1}, headers=headers
        ) as response:
            refused = response.status
        async with http.post("/api/limits/mail%2Feu%20west/clear", headers=headers) as response:
            cleared = await response.json()
        async with http.post("/api/limits/mail%2Feu%20west/clear", headers=headers) as response:
            again = await response.json()

    assert listed == [
        {"job_type": "api", "concurrency": 4, "rate": None, "per": 1.0, "burst": None, "running": 0,
         "tokens": None, "group_concurrency": 2},
        {"job_type": "mail/eu west", "concurrency": 2, "rate": 10.0, "per": 3600.0, "burst": 5, "running": 2,
         "tokens": pytest.approx(3.0, abs=0.01), "group_concurrency": None},
    ]  # fmt: skip
    assert refused == 400
    assert cleared == {"job_type": "mail/eu west", "cleared": True}
    assert again == {"job_type": "mail/eu west", "cleared": False}
    remaining = (await server.stub.ListLimits(pb.ListLimitsRequest())).limits
    assert [limit.job_type for limit in remaining] == ["api"]


async def test_the_dashboard_shows_running_jobs_against_limits_and_clears_one(
    server: Running, page: object
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    running = await limited(server)
    await page.goto(server.http.url + "/")

    rows = page.locator("#limits tbody tr")
    await expect(rows).to_have_count(2)
    mail = rows.filter(has_text="mail/eu west")
    await expect(mail.locator("td")).to_have_text(
        ["mail/eu west", "2 / 2", "", "10 per 3600 s", "5", "3.0", "Clear"]
    )
    await expect(rows.filter(has_text="api").locator("td").nth(1)).to_have_text("0 / 4")
    await expect(rows.filter(has_text="api").locator("td").nth(2)).to_have_text("2")

    done = running[0]
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=done.id, lease_token=done.lease_token))
    await expect(mail.locator("td").nth(1)).to_have_text("1 / 2")  # at the next refresh

    await page.click('button.clear-limit[data-job-type="mail/eu west"]')

    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("api")
    remaining = (await server.stub.ListLimits(pb.ListLimitsRequest())).limits
    assert [limit.job_type for limit in remaining] == ["api"]


async def test_the_jobs_browser_filters_pages_and_opens_a_job(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    mail = [await server.enqueue("mail") for _ in range(60)]
    sms = await server.enqueue("sms", '{"to": "+4412345"}')

    await page.goto(server.http.url + "/")
    await expect(page.locator("#jobs tbody tr")).to_have_count(50)  # a page
    await page.click("#browse-more")
    await expect(page.locator("#jobs tbody tr")).to_have_count(61)
    await expect(page.locator("#browse-more")).to_be_hidden()
    await expect(page.locator("#jobs tbody")).to_contain_text(mail[0])

    await page.fill("#browse-type", "sms")
    await page.click("#browse button")
    await expect(page.locator("#jobs tbody tr")).to_have_count(1)
    await page.click(f"a.job-link:has-text('{sms}')")
    await expect(page.locator("#job")).to_contain_text("+4412345")
    await shot(page, "jobs-browser")

    await page.select_option("#browse-status", "completed")
    await page.click("#browse button")
    await expect(page.locator("#jobs tbody tr")).to_have_count(0)


async def test_the_job_view_offers_the_actions_that_fit_and_asks_first(server: Running, page: object) -> None:
    from playwright.async_api import Dialog, Page, expect

    assert isinstance(page, Page)
    later = await server.enqueue("mail", scheduled_in=3600)
    answers: list[str] = []

    async def answer(dialog: Dialog) -> None:
        answers.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)

    await page.goto(server.http.url + "/")
    await page.fill("#job-id", later)
    await page.click("#lookup button")
    await expect(page.locator("#job-actions button")).to_have_text(["Cancel", "Run now"])
    await page.click('button.job-action[data-action="run-now"]')
    await expect(page.locator("#job-actions button")).to_have_text(["Cancel"])  # due now
    await page.click('button.job-action[data-action="cancel"]')
    await expect(page.locator("#job")).to_contain_text('"status": "cancelled"')
    await page.click('button.job-action[data-action="delete"]')
    await expect(page.locator("#job")).to_contain_text("deleted")

    assert answers == [
        f"Run job {later} now rather than at its time?",
        f"Cancel job {later}?",
        f"Delete job {later} for good?",
    ]
    assert (await server.counts())["cancelled"] == 0


async def test_a_job_enqueued_from_the_dashboard_is_stored_and_shown(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.goto(server.http.url + "/")
    await page.fill("#new-type", "report")
    await page.fill("#new-payload", '{"month": 12}')
    await page.select_option("#new-priority", "1")
    await page.click("#enqueue button")
    await expect(page.locator("#enqueued")).to_contain_text("enqueued ")
    job_id = (await page.locator("#enqueued").text_content() or "").removeprefix("enqueued ")
    await expect(page.locator("#job-payload")).to_have_text('{\n  "month": 12\n}')
    await shot(page, "enqueued-job")
    job = await server.job(job_id)
    assert (job.job_type, job.payload, job.priority, job.status) == ("report", '{"month": 12}', 1, "queued")

    await page.fill("#new-payload", "{not json")
    await page.click("#enqueue button")
    await expect(page.locator("#enqueued")).to_contain_text("payload")
    assert (await server.counts())["queued"] == 1


async def test_a_long_payload_is_cut_with_a_way_to_see_it_all(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    job_id = await server.enqueue("bulk", json.dumps({"rows": list(range(4000))}))
    await page.goto(server.http.url + "/")
    await page.fill("#job-id", job_id)
    await page.click("#lookup button")
    await expect(page.locator("#job-payload")).to_contain_text("more characters")
    await page.click("#payload-all")
    await expect(page.locator("#job-payload")).to_contain_text("3999")
    await expect(page.locator("#payload-all")).to_be_hidden()


async def test_bulk_actions_count_ask_then_change(server: Running, page: object) -> None:
    from playwright.async_api import Dialog, Page, expect

    assert isinstance(page, Page)
    mail = [await server.enqueue("mail") for _ in range(3)]
    await server.enqueue("sms")
    questions: list[str] = []

    async def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await (dialog.accept() if len(questions) > 1 else dialog.dismiss())

    page.on("dialog", answer)
    await page.goto(server.http.url + "/")
    await expect(page.locator("#jobs tbody tr")).to_have_count(4)
    await page.check(f'input.pick[value="{mail[0]}"]')
    await page.check(f'input.pick[value="{mail[1]}"]')
    await page.click('button.bulk[data-action="cancel"][data-scope="selected"]')
    await expect(page.locator("#bulk-done")).to_have_text("")  # the first question was declined
    assert (await server.counts())["cancelled"] == 0
    await page.click('button.bulk[data-action="cancel"][data-scope="selected"]')
    await expect(page.locator("#bulk-done")).to_have_text("cancel: 2 job(s)")

    await page.fill("#browse-type", "mail")
    await page.click("#browse button")
    await page.click('button.bulk[data-action="cancel"][data-scope="matching"]')
    await expect(page.locator("#bulk-done")).to_have_text("cancel: 1 job(s)")
    await shot(page, "bulk-actions")
    assert questions == ["Cancel 2 job(s)?", "Cancel 2 job(s)?", "Cancel 1 job(s)?"]
    counts = await server.counts()
    assert (counts["cancelled"], counts["queued"]) == (3, 1)


async def test_a_running_job_shows_its_worker_lease_and_fencing_token(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    job_id = await server.enqueue("render")
    held = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="render", worker_id="w-7"))).job
    await page.goto(server.http.url + "/")
    await page.fill("#job-id", job_id)
    await page.click("#lookup button")
    await expect(page.locator("#job-lease")).to_contain_text(
        f"running on w-7, attempt 1, fencing token {held.lease_token}; lease until"
    )
    await expect(page.locator("#job-actions button")).to_have_text(["Cancel"])


async def test_a_failed_job_found_read_requeued_and_the_charts_move(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    page.on("dialog", lambda dialog: dialog.accept())
    for _ in range(2):
        await server.enqueue("export")
    job_id = await server.enqueue("export", '{"file": "q3.csv"}', metadata={"order": "q3-export"})
    for _ in range(3):
        held = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="export", worker_id="w-9"))).job
        if held.id == job_id:
            failed = pb.FailJobRequest(
                job_id=job_id, lease_token=held.lease_token, no_retry=True, error_message="disk full"
            )
            await server.stub.FailJob(failed)
        else:
            await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=held.id, lease_token=held.lease_token))

    await page.goto(server.http.url + "/")
    throughput = page.locator("#chart-throughput")
    await expect(throughput.locator(".legend-enqueued")).to_contain_text("enqueued: 3")
    await expect(throughput.locator(".legend-completed")).to_contain_text("completed: 2")
    await expect(throughput.locator(".legend-dead")).to_contain_text("dead: 1")
    await expect(throughput.locator("path.line-completed")).to_have_count(1)
    await page.fill("#browse-search", "order=q3-export")  # found by its metadata
    await page.click("#browse button[type=submit]")
    await expect(page.locator("#jobs tbody tr")).to_have_count(1)
    await page.click(f"a.job-link:has-text('{job_id}')")
    await expect(page.locator("#job-attempts tbody")).to_contain_text("disk full")
    await expect(page.locator("#job-attempts tbody")).to_contain_text("w-9")
    await page.click("button.job-action[data-action='requeue']")
    await expect(page.locator("#job-lease")).to_be_hidden()
    assert (await server.job(job_id)).status == "queued"

    held = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="export", worker_id="w-9"))).job
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=held.id, lease_token=held.lease_token))

    await expect(throughput.locator(".legend-completed")).to_contain_text("completed: 3")
    await expect(page.locator("#chart-runs .legend-run_p50")).not_to_contain_text("none")
    await shot(page, "charts")


async def test_the_browser_filters_sorts_and_finds_by_id(server: Running, page: object) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    first = await server.enqueue("sort", priority=3)
    later = await server.enqueue("sort", priority=1, scheduled_in=3600)
    grouped = await server.enqueue("sort", priority=1, group="tenant-7")
    rows = page.locator("#jobs tbody tr")

    await page.goto(server.http.url + "/")
    await page.fill("#browse-type", "sort")
    await page.select_option("#browse-order", "newest")
    await page.click("#browse button[type=submit]")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text(grouped)
    await expect(rows.nth(2)).to_contain_text(first)

    await page.select_option("#browse-order", "due")
    await page.click("#browse button[type=submit]")
    await expect(rows.nth(2)).to_contain_text(later)  # due in an hour: last

    await page.select_option("#browse-priority", "1")
    await page.fill("#browse-group", "tenant-7")
    await page.click("#browse button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.nth(0)).to_contain_text(grouped)
    await page.fill("#browse-group", "")
    await page.select_option("#browse-scheduled", "true")
    await page.click("#browse button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.nth(0)).to_contain_text(later)
    await shot(page, "jobs-filtered")

    await page.fill("#browse-search", first)  # an id opens the job
    await page.click("#browse button[type=submit]")
    await expect(page.locator("#job")).to_contain_text(f'"id": "{first}"')
    await page.fill("#browse-search", "tenant")
    await page.click("#browse button[type=submit]")
    await expect(page.locator("#browse-note")).to_contain_text("key=value")
