"""The charts' data on every storage configuration, through a real server's HTTP API:
what one instance did shows on another's charts once written to the record."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.conftest import ONE_PROCESS
from tests.integration.conftest import Running, ServerFactory


async def chart(server: Running, query: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.http.url}/api/history?{query}") as response,
    ):
        return response.status, await response.json()


async def totals(server: Running, job_type: str) -> tuple[int, int, int, int]:
    _, body = await chart(server, f"hours=1&job_type={job_type}")
    points = body["points"]
    return tuple(sum(p[name] for p in points) for name in ("enqueued", "completed", "retried", "dead"))  # type: ignore[return-value]


async def test_another_instance_charts_what_one_did(start_server: ServerFactory) -> None:
    one = await start_server()
    shared = one.container.config.storage() not in ONE_PROCESS
    other = await start_server() if shared else one
    for _ in range(3):
        await one.enqueue("chart-mail")
    for outcome in ("complete", "complete", "dead"):
        held = (await one.stub.DequeueJob(pb.DequeueJobRequest(queue_name="chart-mail", worker_id="w"))).job
        if outcome == "complete":
            await one.stub.CompleteJob(pb.CompleteJobRequest(job_id=held.id, lease_token=held.lease_token))
        else:
            failing = pb.FailJobRequest(
                job_id=held.id, lease_token=held.lease_token, no_retry=True, error_message="x"
            )
            await one.stub.FailJob(failing)

    assert await totals(one, "chart-mail") == (3, 2, 0, 1)  # at once: this instance's own counts
    for _ in range(100):  # the other instance sees them once they are written (every 5 s)
        if await totals(other, "chart-mail") == (3, 2, 0, 1):
            break
        await asyncio.sleep(0.2)
    assert await totals(other, "chart-mail") == (3, 2, 0, 1)

    status, body = await chart(other, "hours=1")
    assert status == 200 and body["step"] == 60 and len(body["points"]) == 60
    assert "chart-mail" in body["job_types"]
    latest = [p for p in body["points"] if p["completed"]][-1]
    assert latest["run_p50"] is not None and latest["run_p50"] <= latest["run_p99"]
    status, body = await chart(other, "hours=24")
    assert status == 200 and body["step"] == 600 and len(body["points"]) == 144


@pytest.mark.parametrize("query", ["hours=3", "hours=soon"])
async def test_a_chart_span_not_offered_is_refused_with_what_is(server: Running, query: str) -> None:
    status, body = await chart(server, query)

    assert status == 400 and "hours" in body["error"]
