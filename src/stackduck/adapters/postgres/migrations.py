"""Schema migrations: numbered .sql files applied in order, once, under an advisory lock
(so several servers starting at once apply each migration exactly once)."""

from __future__ import annotations

import logging
from importlib.resources import files

import psycopg

from stackduck.adapters.migration_files import Migration, numbered
from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import sql

log = logging.getLogger(__name__)

#: Key of the advisory lock that serialises migrations (any constant bigint would do).
LOCK_KEY = 0x5D0C_0001


def available() -> list[Migration]:
    return numbered("stackduck.adapters.postgres", "sql", "migrations")


def canonical_schema() -> str:
    return files("stackduck.adapters.postgres").joinpath("sql", "schema.sql").read_text()


@translated
async def migrate(conninfo: str) -> list[Migration]:
    """Apply the migrations this database lacks; returns those applied."""
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    async with conn, conn.transaction():
        await conn.execute(sql("migrate/lock"), {"key": LOCK_KEY})
        await conn.execute(sql("migrate/bookkeeping"))
        cursor = await conn.execute(sql("migrate/applied"))
        done = {row[0] for row in await cursor.fetchall()}
        applied = []
        for migration in available():
            if migration.version in done:
                continue
            await conn.execute(migration.sql.encode())
            await conn.execute(sql("migrate/record"), {"version": migration.version, "name": migration.name})
            log.info("applied migration %s", migration.label)
            applied.append(migration)
    return applied
