"""Health, reflection, metrics and the HTTP side; bearer tokens and TLS, each proven
by a call that fails without them."""

from __future__ import annotations

import ssl

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import ValidationError

from stackduck.container import provide
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from stackduck.entrypoints.http.app import fingerprint
from stackduck.settings import Settings
from tests.certificates import Certificates, issue
from tests.integration.conftest import Running, ServerFactory

TOKEN = "s3cret-token-for-tests"
BEARER = (("authorization", f"Bearer {TOKEN}"),)


async def health(channel: grpc.aio.Channel, service: str = "") -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    return int(reply.status)


async def test_health_service_reports_serving_and_each_tier(server: Running) -> None:
    assert await health(server.channel) == health_pb2.HealthCheckResponse.SERVING
    assert (
        await health(server.channel, "stackduck.StackDuckService") == health_pb2.HealthCheckResponse.SERVING
    )
    storage = server.container.config.storage()
    for tier in {
        "memory": ["memory"],
        "sqlite": ["sqlite"],
        "postgres": ["postgres"],
        "redis": ["redis"],
    }.get(storage, ["postgres", "redis"]):
        assert (
            await health(server.channel, f"stackduck.storage.{tier}")
            == health_pb2.HealthCheckResponse.SERVING
        )

    await server.server.stop(0)  # shutting down: NOT_SERVING before the port closes
    assert (await provide(server.container.health_reporter)).serving is False


async def test_reflection_lists_the_services(server: Running) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = [s.name async for reply in replies for s in reply.list_services_response.service]
    assert {"stackduck.StackDuckService", "grpc.health.v1.Health"} <= set(names)


async def test_metrics_healthz_and_dashboard_api(server: Running) -> None:
    job_id = await server.enqueue("mail", priority=1)
    await server.enqueue("mail", priority=3)
    job = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="mail", worker_id="w"))).job
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job.id))
    url = server.http.url

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 200
            body = await response.json()
            assert body["status"] == "serving" and all(body["tiers"].values())
        async with http.get(f"{url}/metrics") as response:
            assert response.status == 200
            text = await response.text()
        async with http.get(f"{url}/api/jobs/{job_id}") as response:
            assert (await response.json())["status"] == "completed"
        async with http.get(f"{url}/api/queues") as response:
            [mail] = await response.json()
            assert mail["ready"] == [0, 0, 1]
        async with http.get(f"{url}/api/jobs/nope") as response:
            assert response.status == 404

    assert 'stackduck_jobs_enqueued_total{job_type="mail"} 2.0' in text
    assert 'stackduck_jobs_completed_total{job_type="mail"} 1.0' in text
    assert 'stackduck_queue_ready{job_type="mail",priority="3"} 1.0' in text
    assert 'stackduck_job_wait_seconds_count{job_type="mail"} 1.0' in text
    assert "stackduck_storage_up{tier=" in text and "stackduck_degraded 0.0" in text


async def test_the_jobs_api_lists_every_job_by_status_and_type_a_page_at_a_time(server: Running) -> None:
    mail = [await server.enqueue("mail", priority=p) for p in (1, 2, 3)]
    sms = await server.enqueue("sms")
    job = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="mail", worker_id="w"))).job
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job.id))
    url = server.http.url

    async def listed(query: str) -> tuple[list[dict[str, object]], str]:
        async with http.get(f"{url}/api/jobs?{query}") as response:
            assert response.status == 200, await response.text()
            body = await response.json()
            return body["jobs"], body["next_cursor"]

    async with aiohttp.ClientSession() as http:
        every, cursor = await listed("")
        assert sorted(j["id"] for j in every) == sorted([*mail, sms]) and cursor == ""
        assert all("payload" not in j and "attempts" not in j for j in every)  # /api/jobs/{id} has them
        assert [j["id"] for j in (await listed("status=completed"))[0]] == [job.id]
        assert {j["id"] for j in (await listed("status=queued&job_type=mail"))[0]} == set(mail) - {job.id}
        assert [j["id"] for j in (await listed("job_type=sms"))[0]] == [sms]

        paged, cursor = await listed("limit=3")
        while cursor:
            more, cursor = await listed(f"limit=3&cursor={cursor}")
            paged.extend(more)
        assert [j["id"] for j in paged] == [j["id"] for j in every]

        async with http.get(f"{url}/api/jobs?status=done") as response:
            assert response.status == 400
            assert "status must be one of queued, running" in (await response.json())["error"]
        async with http.get(f"{url}/api/jobs?limit=many") as response:
            assert response.status == 400


async def test_each_job_takes_the_actions_that_fit_its_state(server: Running) -> None:
    queued = await server.enqueue("mail")
    later = await server.enqueue("mail", scheduled_in=3600)
    done = await server.enqueue("done")
    held = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="done", worker_id="w"))).job
    await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=held.id))
    url = server.http.url

    async def act(job_id: str, action: str) -> tuple[int, dict[str, object]]:
        async with http.post(f"{url}/api/jobs/{job_id}/{action}") as response:
            return response.status, await response.json()

    async with aiohttp.ClientSession() as http:
        status, body = await act(queued, "delete")
        assert status == 409 and "cancel it first" in str(body["error"])
        assert (await act(queued, "cancel"))[1]["status"] == "cancelled"
        status, body = await act(later, "run-now")
        assert status == 200 and float(str(body["run_at"])) <= float(str(body["updated_at"]))
        assert await act(done, "delete") == (200, {"id": done, "deleted": True})
        assert (await act(done, "delete"))[0] == 404
        assert (await act(queued, "cancel"))[0] == 409  # already ended
        status, body = await act(later, "explode")
        assert status == 404 and "cancel, run-now or delete" in str(body["error"])
    assert (await server.job(queued)).status == "cancelled"
    with pytest.raises(grpc.aio.AioRpcError):
        await server.job(done)


async def test_a_token_guards_every_call_but_the_health_check(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_AUTH_TOKEN=TOKEN)
    enqueue = pb.EnqueueJobRequest(job_type="t", payload="{}")

    for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await server.stub.EnqueueJob(enqueue, metadata=metadata)
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert "Bearer" in (err.value.details() or "")
    stream = server.stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="w", job_types=["t"]))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stream.read()
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert sum((await server.counts()).values()) == 0

    assert (await server.stub.EnqueueJob(enqueue, metadata=BEARER)).success
    assert await health(server.channel) == health_pb2.HealthCheckResponse.SERVING


async def test_a_token_guards_every_page_but_healthz(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_AUTH_TOKEN=TOKEN)
    url = server.http.url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # 127.0.0.1
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 200
        for path in ("/metrics", "/api/queues", "/api/limits"):
            async with http.get(f"{url}{path}") as response:
                assert response.status == 401
            async with http.get(f"{url}{path}", headers={"Authorization": "Bearer nope"}) as response:
                assert response.status == 401
            async with http.get(f"{url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                assert response.status == 200
        async with http.get(f"{url}/", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/login"
        async with http.post(f"{url}/login", data={"token": "nope"}) as response:
            assert response.status == 401
        async with http.post(f"{url}/login", data={"token": TOKEN}) as response:
            assert response.status == 200 and "Dead letters" in await response.text()
        async with http.post(f"{url}/api/queues/t/pause") as response:
            assert response.status == 403  # a cookie alone cannot change anything (CSRF)
        async with http.post(f"{url}/api/queues/t/pause", headers={"X-Stackduck": "1"}) as response:
            assert response.status == 200
        async with http.post(f"{url}/api/limits/t/clear") as response:
            assert response.status == 403
        async with http.post(f"{url}/api/limits/t/clear", headers={"X-Stackduck": "1"}) as response:
            assert (response.status, await response.json()) == (200, {"job_type": "t", "cleared": False})


READONLY = "look-but-do-not-touch"


async def test_a_read_only_token_sees_every_page_and_changes_nothing(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server: Running = await start_server(STACKDUCK_AUTH_TOKEN=TOKEN, STACKDUCK_READONLY_TOKEN=READONLY)
    url, looking = server.http.url, {"Authorization": f"Bearer {READONLY}", "X-Stackduck": "1"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # 127.0.0.1
        for path in ("/metrics", "/api/queues", "/api/limits", "/api/schedules", "/"):
            async with http.get(f"{url}{path}", headers=looking, allow_redirects=False) as response:
                assert response.status == 200, path
        async with http.post(f"{url}/api/queues/t/pause", headers=looking) as response:
            assert response.status == 403
            assert "read-only" in (await response.json())["error"]
        async with http.get(f"{url}/api/queues", headers=looking) as response:
            assert not any(queue["paused"] for queue in await response.json())  # nothing changed
        async with http.post(f"{url}/login", data={"token": READONLY}) as response:
            assert response.status == 200  # the dashboard opens for it
        async with http.post(f"{url}/api/queues/t/pause", headers={"X-Stackduck": "1"}) as response:
            assert response.status == 403  # its cookie cannot change anything either

        with caplog.at_level("INFO", logger="stackduck.entrypoints.http.app"):
            full = {"Authorization": f"Bearer {TOKEN}"}
            async with http.post(f"{url}/api/queues/t/pause", headers=full) as response:
                assert response.status == 200
    changes = [r.getMessage() for r in caplog.records if "/api/queues/t/pause" in r.getMessage()]
    refused = (
        f"refused POST /api/queues/t/pause to the read-only token {fingerprint(READONLY)}: it may only look"
    )
    assert changes == [
        refused,
        refused,
        f"POST /api/queues/t/pause by the full token {fingerprint(TOKEN)}: 200",
    ]
    assert all(TOKEN not in r.getMessage() and READONLY not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"STACKDUCK_READONLY_TOKEN": READONLY}, "needs STACKDUCK_AUTH_TOKEN"),
        ({"STACKDUCK_AUTH_TOKEN": TOKEN, "STACKDUCK_READONLY_TOKEN": TOKEN}, "must differ"),
        ({"STACKDUCK_AUTH_TOKEN": TOKEN, "STACKDUCK_READONLY_TOKEN": " "}, "is empty"),
    ],
)
def test_a_read_only_token_that_would_mean_nothing_is_refused(settings: dict[str, str], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Settings(**settings)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return issue(tmp_path_factory.mktemp("tls"))


async def test_tls_for_grpc_and_http(start_server: ServerFactory, certificates: Certificates) -> None:
    cert, key, ca = certificates.cert, certificates.key, certificates.ca
    server: Running = await start_server(STACKDUCK_TLS_CERT=str(cert), STACKDUCK_TLS_KEY=str(key))

    credentials = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    async with grpc.aio.secure_channel(server.address, credentials) as channel:
        reply = await StackDuckServiceStub(channel).EnqueueJob(
            pb.EnqueueJobRequest(job_type="t", payload="{}")
        )
        assert reply.success
    with pytest.raises(grpc.aio.AioRpcError) as err:  # plain text is not spoken
        await server.stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}"), timeout=3)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE

    context = ssl.create_default_context(cafile=str(ca))
    assert server.http.url.startswith("https://")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.http.url}/healthz", ssl=context) as response:
            assert response.status == 200
        with pytest.raises(aiohttp.ClientError):
            async with http.get(server.http.url.replace("https", "http") + "/healthz") as response:
                await response.read()


async def test_http_client_mistakes_are_4xx(server: Running) -> None:
    url = server.http.url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/dead?limit=lots") as response:
            assert response.status == 400 and "whole number" in (await response.json())["error"]
        for body in ("[1, 2]", '{"job_ids": "abc"}', "nope"):
            async with http.post(
                f"{url}/api/dead/purge", data=body, headers={"Content-Type": "application/json"}
            ) as response:
                assert response.status == 400, body
