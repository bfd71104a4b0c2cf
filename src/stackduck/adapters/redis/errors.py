"""redis-py's connection errors become the project's errors here, at the adapter's edge."""

from __future__ import annotations

from redis import exceptions

from stackduck.adapters.edge import Edge

UNAVAILABLE = (
    exceptions.ConnectionError,
    exceptions.TimeoutError,
    exceptions.BusyLoadingError,
    exceptions.ReadOnlyError,  # a replica after a failover: cannot take writes
    exceptions.OutOfMemoryError,
    OSError,
)
EDGE = Edge("Redis", UNAVAILABLE)
translated = EDGE.translated
unavailable = EDGE.unavailable
