"""Bulk actions over HTTP on every storage configuration: the jobs named or every job a
filter matches, counted first, then changed; jobs the action does not fit are left be."""

from __future__ import annotations

from typing import Any

import aiohttp

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running


async def ended(server: Running, job_type: str, *, dead: bool) -> str:
    job_id = await server.enqueue(job_type)
    held = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name=job_type, worker_id="w"))).job
    if dead:
        await server.stub.FailJob(
            pb.FailJobRequest(job_id=job_id, lease_token=held.lease_token, no_retry=True)
        )
    else:
        await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id))
    return job_id


async def test_a_filter_or_the_ids_are_counted_then_changed(server: Running) -> None:
    done = await ended(server, "mail", dead=False)
    dead = await ended(server, "mail", dead=True)
    mail = [await server.enqueue("mail") for _ in range(5)]
    sms = [await server.enqueue("sms") for _ in range(2)]
    url = server.http.url

    async with aiohttp.ClientSession() as http:

        async def bulk(**body: Any) -> tuple[int, dict[str, Any]]:
            async with http.post(f"{url}/api/jobs/bulk", json=body) as response:
                return response.status, await response.json()

        assert await bulk(action="cancel", job_type="mail", count_only=True) == (
            200,
            {"action": "cancel", "matched": 5},
        )
        assert (await server.counts())["cancelled"] == 0  # counting changes nothing
        assert await bulk(action="cancel", job_type="mail") == (200, {"action": "cancel", "changed": 5})
        assert {(await server.job(i)).status for i in mail} == {"cancelled"}
        assert {(await server.job(i)).status for i in sms} == {"queued"}

        assert await bulk(action="requeue", job_ids=[dead, done, sms[0]], count_only=True) == (
            200,
            {"action": "requeue", "matched": 1},
        )
        assert (await bulk(action="requeue", job_ids=[dead, done]))[1]["changed"] == 1
        assert (await server.job(dead)).status == "queued"

        assert (await bulk(action="delete", status="cancelled", count_only=True))[1]["matched"] == 5
        assert (await bulk(action="delete", status="cancelled"))[1]["changed"] == 5
        assert (await bulk(action="delete", all=True, count_only=True))[1]["matched"] == 1  # done
        counts = await server.counts()
        assert (counts["cancelled"], counts["completed"], counts["queued"]) == (0, 1, 3)

        for body, words in (
            ({"action": "explode", "all": True}, "action must be one of cancel, requeue, delete"),
            ({"action": "cancel"}, "select the jobs one way"),
            ({"action": "cancel", "job_ids": sms, "job_type": "sms"}, "select the jobs one way"),
            ({"action": "cancel", "status": "done"}, "status must be one of"),
            ({"action": "cancel", "job_type": "a\x00b"}, "job_type"),
        ):
            status, reply = await bulk(**body)
            assert status == 400 and words in reply["error"], (body, reply)
        assert (await server.counts())["queued"] == 3


async def test_every_filter_of_the_jobs_browser_selects_for_a_bulk_action(server: Running) -> None:
    tenant = [await server.enqueue("bill", metadata={"tenant": "acme"}, priority=1) for _ in range(2)]
    grouped = await server.enqueue("bill", group="acme", priority=3)
    later = await server.enqueue("bill", scheduled_in=3600)
    url = server.http.url

    async with aiohttp.ClientSession() as http:

        async def bulk(**body: Any) -> tuple[int, dict[str, Any]]:
            async with http.post(f"{url}/api/jobs/bulk", json=body) as response:
                return response.status, await response.json()

        assert (await bulk(action="cancel", metadata="tenant=acme", count_only=True))[1]["matched"] == 2
        assert (await bulk(action="cancel", priority=3, count_only=True))[1]["matched"] == 1
        assert (await bulk(action="cancel", scheduled=True))[1]["changed"] == 1
        assert (await bulk(action="cancel", group="acme"))[1]["changed"] == 1
        assert [(await server.job(i)).status for i in (later, grouped)] == ["cancelled"] * 2
        assert {(await server.job(i)).status for i in tenant} == {"queued"}

        for body, words in (
            ({"action": "cancel", "priority": 4}, "priority must be 1, 2 or 3"),
            ({"action": "cancel", "metadata": "tenant"}, "metadata must be key=value"),
            ({"action": "cancel", "scheduled": "yes"}, "scheduled"),
        ):
            status, reply = await bulk(**body)
            assert status == 400 and words in reply["error"], (body, reply)


async def test_the_jobs_listing_refuses_a_filter_it_cannot_read(server: Running) -> None:
    async with aiohttp.ClientSession() as http:
        for query, words in (
            ("order=random", "order must be one of oldest, newest, due"),
            ("scheduled=maybe", "scheduled must be true or false"),
            ("priority=high", "priority must be a whole number"),
            ("priority=7", "priority must be 1, 2 or 3"),
            ("metadata=tenant", "metadata must be key=value"),
            ("order=due&status=completed", "sorting by due time lists queued jobs"),
            ("order=due&cursor=nowhere", "page_token"),
        ):
            async with http.get(f"{server.http.url}/api/jobs?{query}") as response:
                body = await response.json()
                assert response.status == 400 and words in body["error"], (query, body)
