"""When the server counts as serving."""

from __future__ import annotations

#: The tier that holds the record comes first: without it nothing can be served.
RECORD_ORDER = ("postgres", "redis", "memory")


def serving(tiers: dict[str, bool], closing: bool) -> bool:
    """Not shutting down, and the record's tier answers (other tiers may be degraded)."""
    record = next((tier for tier in RECORD_ORDER if tier in tiers), None)
    return not closing and (record is None or tiers[record])
