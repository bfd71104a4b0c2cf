"""Storage away: clients read which tier and to retry — never the host, the port, the
user or the password of the storage (the server's log may name the host)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import grpc
import pytest
from psycopg.conninfo import conninfo_to_dict

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory
from tests.proxy import Proxy

PASSWORD = "Pg-secret-7731"


@pytest.fixture
async def proxy(storage_settings: dict[str, str]) -> AsyncIterator[Proxy]:
    """A cuttable link to the storage under test."""
    if "DATABASE_URL" in storage_settings:
        params = conninfo_to_dict(storage_settings["DATABASE_URL"])
        host, port = str(params.get("host", "127.0.0.1")), int(params.get("port", 5432))
    else:
        parts = urlsplit(storage_settings["REDIS_URL"])
        host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    running = Proxy(host, port)
    await running.start()
    yield running
    await running.cut()


def through(proxy: Proxy, storage_settings: dict[str, str]) -> dict[str, str]:
    """The storage URL through the proxy, with a user and a password in it."""
    if "DATABASE_URL" in storage_settings:
        params = conninfo_to_dict(storage_settings["DATABASE_URL"])
        user, database = params.get("user", "postgres"), params.get("dbname", "postgres")
        return {"DATABASE_URL": f"postgresql://{user}:{PASSWORD}@127.0.0.1:{proxy.port}/{database}"}
    parts = urlsplit(storage_settings["REDIS_URL"])
    return {"REDIS_URL": parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()}


@pytest.mark.parametrize("storage_settings", ["postgres", "redis"], indirect=True)
async def test_clients_are_told_the_tier_is_away_and_nothing_of_where_it_is(
    start_server: ServerFactory, storage_settings: dict[str, str], proxy: Proxy
) -> None:
    server: Running = await start_server(**through(proxy, storage_settings))
    user = conninfo_to_dict(storage_settings.get("DATABASE_URL", "")).get("user", "postgres")
    secrets = ("127.0.0.1", str(proxy.port), PASSWORD, f'"{user}"', f" {user} ")
    await server.enqueue("t")

    await proxy.cut()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await server.stub.EnqueueJob(pb.EnqueueJobRequest(job_type="t", payload="{}"), timeout=15)
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        details = err.value.details() or ""
        assert "is unavailable; retry shortly" in details
        assert not [word for word in secrets if word in details], details

        async with aiohttp.ClientSession() as http, http.get(f"{server.http.url}/api/dead") as response:
            assert response.status == 503
            error = (await response.json())["error"]
        assert "is unavailable; retry shortly" in error
        assert not [word for word in secrets if word in error], error
    finally:
        await proxy.restore()
