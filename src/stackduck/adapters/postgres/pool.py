"""The connection pool, as a context the PostgreSQL backends open and close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import UNAVAILABLE, unavailable
from stackduck.adapters.postgres.migrations import migrate

#: How long a request waits for a free (or re-opened) connection before UNAVAILABLE.
CHECKOUT_TIMEOUT_SECONDS = 5.0


def check_conninfo(conninfo: str) -> None:
    """ValueError (libpq's words, which may quote the URL) unless libpq can read it."""
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ValueError(" ".join(str(exc).split())) from None


@asynccontextmanager
async def open_pool(conninfo: str, max_size: int) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """Bring the schema up to date, then open the pool; closed when the server stops."""
    await migrate(conninfo)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo,
        min_size=min(2, max_size),
        max_size=max_size,
        open=False,
        timeout=CHECKOUT_TIMEOUT_SECONDS,
        kwargs={"autocommit": True},
        name="stackduck",
    )
    try:
        await pool.open(wait=True, timeout=CHECKOUT_TIMEOUT_SECONDS)
    except UNAVAILABLE as exc:
        await pool.close()
        raise unavailable(exc) from exc
    try:
        yield pool
    finally:
        await pool.close()
