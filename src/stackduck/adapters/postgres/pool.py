"""The connection pool, as a resource the container opens and closes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.postgres.errors import UNAVAILABLE, unavailable
from stackduck.adapters.postgres.migrations import migrate

#: How long a request waits for a free (or re-opened) connection before UNAVAILABLE.
CHECKOUT_TIMEOUT_SECONDS = 5.0


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
