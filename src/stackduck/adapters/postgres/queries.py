"""SQL statements, kept in .sql files inside the package and loaded once."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from stackduck.domain.job import STATUS_OF, Job

_FIELDS = (
    "id::text", "job_type", "payload", "priority", "delay", "max_retries", "status", "run_at",
    "created_at", "updated_at", "retry_count", "attempt", "error_message", "started_at",
    "completed_at", "lease_owner", "lease_expires_at", "version",
)  # fmt: skip
#: The columns of a job, in the order of the Job dataclass's fields.
JOB_COLUMNS = ", ".join(_FIELDS)

JobRow = tuple[
    str, str, str, int, int, int, str, float, float, float, int, int, str,
    float | None, float | None, str | None, float | None, int,
]  # fmt: skip


def _read(name: str) -> str:
    path = f"{name}.sql".split("/")  # "paused/list": a statement in a subfolder
    return files("stackduck.adapters.postgres").joinpath("sql", "queries", *path).read_text()


def _fragment(name: str) -> str:
    """A fragment's text without its comment lines (they would land mid-statement)."""
    return "\n".join(line for line in _read(name).strip().splitlines() if not line.startswith("--"))


@cache
def sql(name: str) -> bytes:
    """The statement in ``sql/queries/<name>.sql``, with the job columns and the lease
    (``_lease.sql``: the domain's start move, shared by every statement that leases) filled in."""
    qualified = ", ".join(f"j.{field}" for field in _FIELDS)
    text = _read(name).replace("{lease}", _fragment("_lease"))
    return text.replace("{j.columns}", qualified).replace("{columns}", JOB_COLUMNS).encode()


def job_from_row(row: JobRow) -> Job:
    values = list(row)
    values[6] = STATUS_OF[row[6]]
    return Job(*values)  # type: ignore[arg-type]
