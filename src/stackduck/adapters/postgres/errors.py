"""psycopg's connection errors become the project's errors here, at the adapter's edge."""

from __future__ import annotations

import psycopg
import psycopg_pool

from stackduck.adapters.storage_errors import StorageErrors

UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout)
EDGE = StorageErrors("PostgreSQL", UNAVAILABLE)
translated = EDGE.translated
unavailable = EDGE.unavailable
