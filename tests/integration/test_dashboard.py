"""The dashboard in a real headless Chromium, against a real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running
from tests.services import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("storage_settings", ["memory"], indirect=True)]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


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
    job = await server.job(dead)
    assert (job.status, job.retry_count) == ("queued", 0)
