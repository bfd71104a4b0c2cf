"""A TCP proxy between the server and PostgreSQL, for outages a test can cause."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.proxy import Proxy


@pytest.fixture
async def proxy(postgres: str) -> AsyncIterator[Proxy]:
    params = conninfo_to_dict(postgres)
    running = Proxy(str(params.get("host", "127.0.0.1")), int(params.get("port", 5432)))
    await running.start()
    yield running
    await running.cut()


@pytest.fixture
def proxied(postgres: str, proxy: Proxy) -> str:
    """The test database's connection string, through the proxy."""
    params = conninfo_to_dict(postgres)
    params.update(host="127.0.0.1", port=str(proxy.port))
    return make_conninfo("", **params)
