"""Schema migrations: numbered .sql files applied in order, once, under an advisory lock
(so several servers starting at once apply each migration exactly once)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib.resources import files

import psycopg

from stackduck.adapters.postgres.errors import translated
from stackduck.adapters.postgres.queries import sql

log = logging.getLogger(__name__)

#: Key of the advisory lock that serialises migrations (any constant bigint would do).
LOCK_KEY = 0x5D0C_0001
_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    folder = files("stackduck.adapters.postgres").joinpath("sql", "migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    return sorted(found, key=lambda m: m.version)


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
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration)
    return applied
