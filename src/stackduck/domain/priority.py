"""Priority levels and the order in which ready jobs are handed out.

1 is the highest priority, 3 the lowest. Inside one priority, jobs go out in
the order they became due, then in the order they arrived (FIFO).
"""

from __future__ import annotations

HIGH = 1
NORMAL = 2
LOW = 3
DEFAULT_PRIORITY = NORMAL
PRIORITIES = (HIGH, NORMAL, LOW)

ReadyKey = tuple[int, float, str]


def ready_key(priority: int, due_at: float, job_id: str) -> ReadyKey:
    """Sort key of a ready job: smaller goes out first.

    Job ids are time-ordered (UUIDv7), so the id breaks ties between jobs
    due at the same instant in arrival order.
    """
    return (priority, due_at, job_id)
