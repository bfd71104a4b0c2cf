"""psycopg's connection errors become the project's errors here, at the adapter's edge."""

from __future__ import annotations

import psycopg
import psycopg_pool

from stackduck.adapters.edge import Edge

UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout)
EDGE = Edge("PostgreSQL", UNAVAILABLE)
translated = EDGE.translated
unavailable = EDGE.unavailable
