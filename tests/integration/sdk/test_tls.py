"""Stackduck's own clients against a server that speaks TLS only, trusting a CA made for
the test: the SDK (async and blocking), a Worker, `stackduck worker` and `stackduck stats`;
and what each says when it is not told which CA to trust."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from stackduck import AsyncClient, Client, JobInfo, JobStatus, StorageUnavailable, TlsHandshakeFailed, Worker
from tests.certificates import Certificates, issue
from tests.integration.conftest import STACKDUCK, Running, ServerFactory
from tests.integration.sdk.conftest import PATIENCE, WorkerProcess, memory_only, until_status, working

pytestmark = memory_only  # the subject is the connection, not the storage
UNTRUSTED = "TLS handshake failed: the server's certificate is not trusted"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return issue(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def tls_server(start_server: ServerFactory, certificates: Certificates) -> Running:
    running: Running = await start_server(
        STACKDUCK_TLS_CERT=str(certificates.cert), STACKDUCK_TLS_KEY=str(certificates.key)
    )
    return running


@pytest.fixture(autouse=True)
def _no_ca_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACKDUCK_TLS_CA", raising=False)


def blocking_round_trip(address: str, **tls: object) -> JobStatus:
    """Enqueue and read back with the blocking Client (run in a thread: the server
    runs on the test's event loop)."""
    with Client(address, **tls) as client:  # type: ignore[arg-type]
        return client.get(client.enqueue("tls_blocking", {"n": 1})).status


async def test_the_async_and_blocking_clients_trust_the_ca_they_are_given(
    tls_server: Running, certificates: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with AsyncClient(tls_server.address, tls_ca=certificates.ca) as client:
        job_id = await client.enqueue("tls_async", {"n": 1})
        assert (await client.get(job_id)).status is JobStatus.QUEUED
    status = await asyncio.to_thread(blocking_round_trip, tls_server.address, tls_ca=str(certificates.ca))
    assert status is JobStatus.QUEUED

    monkeypatch.setenv("STACKDUCK_TLS_CA", str(certificates.ca))  # the variable, no argument
    async with AsyncClient(tls_server.address) as client:
        assert [q.job_type for q in await client.queue_stats()] == ["tls_async", "tls_blocking"]
    assert await asyncio.to_thread(blocking_round_trip, tls_server.address) is JobStatus.QUEUED


async def test_a_client_not_told_which_ca_to_trust_says_so(
    tls_server: Running, certificates: Certificates
) -> None:
    async with AsyncClient(tls_server.address, tls=True) as client:  # the system's roots only
        with pytest.raises(TlsHandshakeFailed, match=UNTRUSTED) as refused:
            await client.enqueue("t", {})
    assert "tls_ca=/--tls-ca/STACKDUCK_TLS_CA" in str(refused.value)
    with pytest.raises(TlsHandshakeFailed, match=UNTRUSTED):
        await asyncio.to_thread(blocking_round_trip, tls_server.address, tls=True)

    async with AsyncClient(tls_server.address) as client:  # plain text to a TLS server
        with pytest.raises(StorageUnavailable, match="if the server speaks TLS: pass tls_ca="):
            await client.enqueue("t", {})


async def test_a_client_speaking_tls_to_a_plain_server_is_told_so(
    server: Running, certificates: Certificates
) -> None:
    async with AsyncClient(server.address, tls_ca=certificates.ca) as client:
        with pytest.raises(TlsHandshakeFailed, match="the server does not speak TLS"):
            await client.enqueue("t", {})


async def test_a_certificate_for_another_name_is_refused_and_said_so(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    elsewhere = issue(tmp_path, names="DNS:elsewhere.example")
    server: Running = await start_server(
        STACKDUCK_TLS_CERT=str(elsewhere.cert), STACKDUCK_TLS_KEY=str(elsewhere.key)
    )
    async with AsyncClient(server.address, tls_ca=elsewhere.ca) as client:
        with pytest.raises(TlsHandshakeFailed, match="certificate is not for the name connected to"):
            await client.enqueue("t", {})


async def test_a_worker_works_over_tls_and_stops_when_it_cannot_trust_the_server(
    tls_server: Running, certificates: Certificates
) -> None:
    def handle(job: JobInfo) -> None:
        pass

    async with AsyncClient(tls_server.address, tls_ca=certificates.ca) as client:
        job_id = await client.enqueue("tls_work", {})
        trusting = Worker(tls_server.address, handlers={"tls_work": handle}, tls_ca=certificates.ca)
        async with working(trusting) as running:
            await running.until(until_status(client, job_id, JobStatus.COMPLETED))

    untrusting = Worker(tls_server.address, handlers={"tls_work": handle}, tls=True)
    with pytest.raises(TlsHandshakeFailed, match=UNTRUSTED):  # not a reconnect loop
        await asyncio.wait_for(untrusting.run(), PATIENCE)


async def stackduck(*args: str, **env_vars: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SERVER_ADDR", "GRPC_PORT")} | env_vars
    process = await asyncio.create_subprocess_exec(
        STACKDUCK, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_stackduck_stats_over_tls(tls_server: Running, certificates: Certificates) -> None:
    async with AsyncClient(tls_server.address, tls_ca=certificates.ca) as client:
        await client.enqueue("tls_stats", {})
    address = ["--address", tls_server.address, "--json"]

    code, out, err = await stackduck("stats", *address, "--tls-ca", str(certificates.ca))
    assert code == 0, err
    assert [q["job_type"] for q in json.loads(out)] == ["tls_stats"]
    code, out, err = await stackduck("stats", *address, STACKDUCK_TLS_CA=str(certificates.ca))
    assert code == 0 and json.loads(out)[0]["ready"] == [0, 1, 0], err

    code, out, err = await stackduck("stats", *address, "--tls")
    assert code == 1 and UNTRUSTED in err and "--tls-ca" in err, err


async def test_stackduck_worker_over_tls(
    tls_server: Running, certificates: Certificates, run_worker: type[WorkerProcess]
) -> None:
    async with AsyncClient(tls_server.address, tls_ca=certificates.ca) as client:
        sent = await client.enqueue("cli_send", {"to": "a@b.c"})
        handlers = "tests.integration.sdk.cli_handlers:handlers"
        worker = run_worker(handlers, "--address", tls_server.address, "--tls-ca", str(certificates.ca))
        await worker.logged(f"job {sent} (cli_send) completed")
        code, log = await worker.stop()
        assert code == 0, log
        assert (await client.get(sent)).status is JobStatus.COMPLETED

    refused = run_worker(handlers, "--address", tls_server.address, "--tls")
    _, log = await asyncio.to_thread(refused.process.communicate, timeout=PATIENCE)
    assert refused.process.returncode == 1 and UNTRUSTED in log, log
