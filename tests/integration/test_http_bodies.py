"""Every change the HTTP API offers refuses a body it was not built for: a 400 that
names the field, and nothing changed — never a guess at what was meant."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory

TOKEN = "body-table-token-0451"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
SELECTION = ("job_ids", "job_type", "all")

#: Bodies that are not a JSON object at all; the message names what to send instead.
NOT_AN_OBJECT = [
    b"[1, 2]",
    b'"all"',
    b"true",
    b"null",
    b"7",
    b"nope",
    b'{"all": true',
    b"\xff\xfe{}",
    b'{"all": tr\xc3ue}',
    b"[" * 100_000,
]

Case = tuple[bytes, str, tuple[str, ...]]


def malformed(names: tuple[str, ...]) -> list[Case]:
    return [(body, JSON, names) for body in NOT_AN_OBJECT]


SELECTION_CASES: list[Case] = [
    (b'{"all": "false"}', JSON, ("all",)),
    (b'{"all": "true"}', JSON, ("all",)),
    (b'{"all": 1}', JSON, ("all",)),
    (b'{"all": null}', JSON, ("all",)),
    (b'{"all": [true]}', JSON, ("all",)),
    (b'{"all": false, "all": true}', JSON, ("all",)),
    (b'{"job_ids": "abc"}', JSON, ("job_ids",)),
    (b'{"job_ids": [1]}', JSON, ("job_ids",)),
    (b'{"job_ids": [""]}', JSON, ("job_ids",)),
    (b'{"job_ids": [null]}', JSON, ("job_ids",)),
    (b'{"job_ids": {"a": 1}}', JSON, ("job_ids",)),
    (b'{"job_type": 5}', JSON, ("job_type",)),
    (b'{"job_type": ["invoice"]}', JSON, ("job_type",)),
    (b'{"job_type": null}', JSON, ("job_type",)),
    (b'{"ALL": true}', JSON, ("ALL",)),
    (b'{"job_type": "invoice", "all": true}', JSON, SELECTION),
    (b"{}", JSON, SELECTION),
    (b"", JSON, SELECTION),
    *malformed(SELECTION),
]
NO_FIELDS_CASES: list[Case] = [
    (b'{"paused": false}', JSON, ("paused",)),
    (b'{"job_ids": ["x"]}', JSON, ("job_ids",)),
    (b'{"all": true}', JSON, ("all",)),
    *malformed(("body",)),
]
NEW_JOB_CASES: list[Case] = [
    (b'{"job_type": 5}', JSON, ("job_type",)),
    (b'{"job_type": "mail", "payload": {"to": "a"}}', JSON, ("payload", "string")),
    (b'{"job_type": "mail", "payload": "{nope"}', JSON, ("payload",)),
    (b'{"job_type": "mail", "priority": "1"}', JSON, ("priority",)),
    (b'{"job_type": "mail", "priority": 1.5}', JSON, ("priority",)),
    (b'{"job_type": "mail", "priority": true}', JSON, ("priority",)),
    (b'{"job_type": "mail", "priority": 9}', JSON, ("priority",)),
    (b'{"job_type": "mail", "scheduled_in": "60"}', JSON, ("scheduled_in",)),
    (b'{"job_type": "mail", "scheduled_in": -5}', JSON, ("scheduled_in",)),
    (b'{"job_type": "mail", "group": "a"}', JSON, ("group",)),
    (b'{"payload": "{}"}', JSON, ("job_type",)),
    (b"{}", JSON, ("job_type",)),
    (b"", JSON, ("job_type",)),
    *malformed(("job_type",)),
]
BULK_CASES: list[Case] = [
    (b'{"action": 5, "all": true}', JSON, ("action",)),
    (b'{"action": "explode", "all": true}', JSON, ("action",)),
    (b'{"action": "delete"}', JSON, ("job_ids", "all=true")),
    (b'{"action": "delete", "all": "true"}', JSON, ("all",)),
    (b'{"action": "delete", "all": true, "count_only": 1}', JSON, ("count_only",)),
    (b'{"action": "delete", "job_ids": "x"}', JSON, ("job_ids",)),
    (b'{"action": "delete", "status": 3}', JSON, ("status",)),
    (b'{"action": "delete", "status": "gone"}', JSON, ("status",)),
    (b'{"action": "delete", "job_type": "archive", "all": true}', JSON, ("select the jobs one way",)),
    (b'{"all": true}', JSON, ("action",)),
    (b"{}", JSON, ("action",)),
    *malformed(("action",)),
]
LOGIN_CASES: list[Case] = [
    (f'{{"token": "{TOKEN}"}}'.encode(), JSON, ("token",)),
    (f"tok={TOKEN}".encode(), FORM, ("token",)),
    (f"token={TOKEN}&token={TOKEN}".encode(), FORM, ("token",)),
    (b"token=\xff", FORM, ("token",)),
    (b"token=%ff", FORM, ("token",)),
    (b"", FORM, ("token",)),
]


BEARER = (("authorization", f"Bearer {TOKEN}"),)


async def dead_letter(server: Running, job_type: str) -> str:
    stub = server.stub
    job_id = (
        await stub.EnqueueJob(pb.EnqueueJobRequest(job_type=job_type, payload="{}"), metadata=BEARER)
    ).job_id
    held = (
        await stub.DequeueJob(pb.DequeueJobRequest(queue_name=job_type, worker_id="w"), metadata=BEARER)
    ).job
    failed = pb.FailJobRequest(job_id=job_id, lease_token=held.lease_token, no_retry=True)
    assert (await stub.FailJob(failed, metadata=BEARER)).success
    return str(job_id)


async def job_status(server: Running, job_id: str) -> str:
    return str((await server.stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=BEARER)).status)


async def test_every_change_refuses_a_bad_body_and_changes_nothing(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_AUTH_TOKEN=TOKEN)
    dead = [await dead_letter(server, job_type) for job_type in ("invoice", "report", "archive")]
    await server.stub.EnqueueJob(pb.EnqueueJobRequest(job_type="mail", payload="{}"), metadata=BEARER)
    template = pb.EnqueueJobRequest(job_type="sync", payload="{}")
    nightly = pb.PutScheduleRequest(name="nightly", job=template, cron="0 3 * * *")
    await server.stub.PutSchedule(nightly, metadata=BEARER)
    await server.stub.SetLimit(pb.SetLimitRequest(job_type="mail", concurrency=2), metadata=BEARER)
    url, bearer = server.http.url, {"Authorization": f"Bearer {TOKEN}"}

    table: dict[tuple[str, str], tuple[str, list[Case]]] = {
        ("POST", "/api/dead/purge"): ("/api/dead/purge", SELECTION_CASES),
        ("POST", "/api/dead/requeue"): ("/api/dead/requeue", SELECTION_CASES),
        ("POST", "/api/dead/{job_id}/requeue"): (f"/api/dead/{dead[0]}/requeue", NO_FIELDS_CASES),
        ("POST", "/api/jobs/{job_id}/{action}"): (f"/api/jobs/{dead[2]}/delete", NO_FIELDS_CASES),
        ("POST", "/api/jobs"): ("/api/jobs", NEW_JOB_CASES),
        ("POST", "/api/jobs/bulk"): ("/api/jobs/bulk", BULK_CASES),
        ("POST", "/api/queues/{job_type}/pause"): ("/api/queues/mail/pause", NO_FIELDS_CASES),
        ("POST", "/api/queues/{job_type}/resume"): ("/api/queues/held/resume", NO_FIELDS_CASES),
        ("POST", "/api/schedules/{name}/pause"): ("/api/schedules/nightly/pause", NO_FIELDS_CASES),
        ("POST", "/api/schedules/{name}/resume"): ("/api/schedules/nightly/resume", NO_FIELDS_CASES),
        ("POST", "/api/limits/{job_type}/clear"): ("/api/limits/mail/clear", NO_FIELDS_CASES),
        ("POST", "/login"): ("/login", LOGIN_CASES),
    }
    changes = {
        (route.method, route.resource.canonical)
        for route in server.http.app.router.routes()
        if route.method not in ("GET", "HEAD") and route.resource is not None
    }
    assert changes == table.keys(), "every route that changes something is in the table"

    async with aiohttp.ClientSession() as http:

        async def post(path: str, body: bytes, content_type: str = JSON) -> tuple[int, Any, str]:
            headers = {**bearer, "Content-Type": content_type}
            async with http.post(url + path, data=body, headers=headers, allow_redirects=False) as response:
                reply = await response.json() if response.content_type == JSON else None
                return response.status, reply, response.headers.get("Set-Cookie", "")

        assert (await post("/api/queues/held/pause", b""))[0] == 200
        before = await server.counts()

        for (method, _), (path, cases) in table.items():
            for body, content_type, names in cases:
                status, reply, cookie = await post(path, body, content_type)
                case = f"{method} {path} {body[:60]!r}"
                assert status == 400, case
                assert all(name in reply["error"] for name in names), (case, reply)
                assert not cookie, case

        assert await server.counts() == before
        assert [await job_status(server, job_id) for job_id in dead] == ["failed"] * 3
        async with http.get(f"{url}/api/queues", headers=bearer) as response:
            paused = {q["job_type"]: q["paused"] for q in await response.json()}
        assert paused == {"held": True, "mail": False, "invoice": False, "report": False, "archive": False}
        schedules = await server.stub.ListSchedules(pb.ListSchedulesRequest(), metadata=BEARER)
        assert [(s.name, s.paused) for s in schedules.schedules] == [("nightly", False)]
        limits = await server.stub.ListLimits(pb.ListLimitsRequest(), metadata=BEARER)
        assert [(limit.job_type, limit.concurrency) for limit in limits.limits] == [("mail", 2)]

        # The same calls with the bodies they were built for go through.
        assert (await post("/api/queues/mail/pause", b"{}"))[:2] == (200, {"paused": True})
        assert (await post("/api/queues/held/resume", b""))[:2] == (200, {"paused": False})
        status, reply, _ = await post("/api/schedules/nightly/pause", b"{}")
        assert (status, reply["name"], reply["paused"]) == (200, "nightly", True)
        status, reply, _ = await post("/api/schedules/nightly/resume", b"")
        assert (status, reply["paused"]) == (200, False)
        assert (await post("/api/limits/mail/clear", b"{}"))[:2] == (
            200,
            {"job_type": "mail", "cleared": True},
        )
        assert (await post(f"/api/dead/{dead[0]}/requeue", b"{}"))[0] == 200
        assert (await post("/api/dead/requeue", b'{"job_ids": ["%s"]}' % dead[1].encode()))[:2] == (
            200,
            {"requeued": 1},
        )
        status, reply, _ = await post(
            "/api/jobs", b'{"job_type": "made", "payload": "{\\"n\\": 1}", "priority": 1}'
        )
        made = await server.stub.GetJob(pb.GetJobRequest(job_id=reply["id"]), metadata=BEARER)
        assert (status, made.job_type, made.payload, made.priority) == (201, "made", '{"n": 1}', 1)
        status, reply, _ = await post("/api/jobs", b'{"job_type": "later", "scheduled_in": 3600}')
        later = await server.stub.GetJob(pb.GetJobRequest(job_id=reply["id"]), metadata=BEARER)
        assert status == 201 and later.scheduled_at > time.time() + 3000
        status, _, cookie = await post("/login", f"token={TOKEN}".encode(), FORM)
        assert status == 303 and cookie.startswith("stackduck_token=")
        assert (await post("/api/dead/purge", b'{"all": false, "job_type": "archive"}'))[:2] == (
            200,
            {"purged": 1},
        )
