"""One backend per storage configuration, each the whole story of it (ADR 0021):

- ``memory.MemoryBackend``: everything in this process;
- ``postgres.PostgresBackend``: PostgreSQL alone, its table the queue;
- ``redis.RedisBackend``: Redis alone, its store scripts the queue;
- ``redis_postgres.RedisPostgresBackend``: the record in PostgreSQL, the queue in
  Redis, memory while Redis fails;
- ``sqlite.SqliteBackend``: the record in a SQLite file, the queue in memory.

Each provides the ports of :class:`stackduck.application.backend.Backend` and opens
and closes what it uses; the container picks one by the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackduck.adapters.backends.memory import MemoryBackend
from stackduck.adapters.backends.postgres import PostgresBackend
from stackduck.adapters.backends.redis import RedisBackend
from stackduck.adapters.backends.redis_postgres import RedisPostgresBackend
from stackduck.adapters.backends.sqlite import SqliteBackend

__all__ = ["MemoryBackend", "PostgresBackend", "RedisBackend", "RedisPostgresBackend", "SqliteBackend"]

if TYPE_CHECKING:  # mypy holds each backend to the port it provides
    from stackduck.application.backend import Backend

    def _provides_every_port(
        memory: MemoryBackend,
        postgres: PostgresBackend,
        redis: RedisBackend,
        both: RedisPostgresBackend,
        sqlite: SqliteBackend,
    ) -> list[Backend]:
        return [memory, postgres, redis, both, sqlite]
