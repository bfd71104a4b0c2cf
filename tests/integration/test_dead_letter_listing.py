"""The dashboard's dead-letter listing (/api/dead): pages cut by size, no payloads."""

from __future__ import annotations

import aiohttp

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running

PAYLOAD_BYTES = 900 * 1024


async def test_dead_letters_are_listed_without_payloads_a_few_mebibytes_a_page(server: Running) -> None:
    dead = []
    for i in range(8):
        job_id = await server.enqueue("doomed", f'"{i}{"x" * PAYLOAD_BYTES}"')
        held = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="doomed", worker_id="w"))).job
        await server.stub.FailJob(
            pb.FailJobRequest(job_id=job_id, lease_token=held.lease_token, no_retry=True, error_message="e")
        )
        dead.append(job_id)

    listed: list[str] = []
    pages = 0
    cursor = ""
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{server.http.url}/api/dead?limit=1000&cursor={cursor}") as response:
                assert response.status == 200
                body = await response.read()
                page = await response.json()
            assert len(body) < 16 * 1024
            assert all("payload" not in job and job["error_message"] == "e" for job in page["jobs"])
            listed += [job["id"] for job in page["jobs"]]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert listed == dead
    assert pages > 1  # eight payloads of 900 KiB are more than one page's worth
