"""The SQLite file's schema: numbered migrations (``sql/migrations/``) applied in order
as the server opens the file, each in a transaction of its own that also records its
number in the file's header (``PRAGMA user_version``), so a migration is applied whole
or not at all, and once. Only the server that owns the data directory opens the file,
so nothing else can be migrating it at the same time."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from stackduck.adapters.migration_files import Migration, numbered
from stackduck.domain.errors import StorageUnavailable

log = logging.getLogger(__name__)


def available() -> list[Migration]:
    return numbered("stackduck.adapters.sqlite", "sql", "migrations")


def version(connection: sqlite3.Connection) -> int:
    """The number of the last migration applied to the file (0: none)."""
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    connection: sqlite3.Connection, path: Path, known: list[Migration] | None = None
) -> list[Migration]:
    """Apply the migrations the file lacks; returns those applied. A file at a version
    this Stackduck does not know (written by a newer one) is left untouched."""
    migrations = available() if known is None else known
    latest = migrations[-1].version if migrations else 0
    current = version(connection)
    if current > latest:
        raise StorageUnavailable(
            f"{path} has schema version {current}, newer than this Stackduck knows ({latest}): "
            "run the Stackduck that wrote it (or a newer one), or set STACKDUCK_DATA_DIR to another directory"
        )
    applied = []
    for migration in migrations:
        if migration.version <= current:
            continue
        try:  # executescript runs the whole text; the transaction makes it all or nothing
            connection.executescript(
                f"BEGIN IMMEDIATE;\n{migration.sql}\n;\nPRAGMA user_version = {migration.version};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise StorageUnavailable(f"cannot apply migration {migration.label} to {path}: {exc}") from exc
        log.info("applied migration %s to %s", migration.label, path)
        applied.append(migration)
    return applied
