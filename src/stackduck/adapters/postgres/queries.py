"""SQL statements, kept in .sql files inside the package and loaded once; jobs read
back from their rows by column name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from functools import cache
from importlib.resources import files
from operator import itemgetter
from typing import Any

from psycopg import AsyncCursor
from psycopg.pq import ExecStatus
from psycopg.rows import RowMaker, no_result

from stackduck.domain.job import STATUS_OF, Attempt, Job

#: The job columns: one per field of Job, named as the field.
JOB_FIELDS = tuple(field.name for field in fields(Job))
#: The job columns as a statement selects them: the id, and the attempts (jsonb), read as
#: text. psycopg would parse every row's attempts with json.loads, about 2 µs a row even
#: for the empty array most jobs being claimed have; as text, only a history is parsed.
_AS_TEXT = {"id": "id::text", "attempts": "attempts::text"}
JOB_COLUMNS = ", ".join(_AS_TEXT.get(name, name) for name in JOB_FIELDS)


def _read(name: str) -> str:
    path = f"{name}.sql".split("/")  # "paused/list": a statement in a subfolder
    return files("stackduck.adapters.postgres").joinpath("sql", "queries", *path).read_text()


def _fragment(name: str) -> str:
    """A fragment's text without its comment lines (they would land mid-statement)."""
    return "\n".join(line for line in _read(name).strip().splitlines() if not line.startswith("--"))


#: The lease's owner where one worker takes every job a statement leases.
ONE_OWNER = "%(worker_id)s"


@cache
def sql(name: str, owner: str = ONE_OWNER) -> bytes:
    """The statement in ``sql/queries/<name>.sql``, with the job columns, the lease
    (``_lease.sql``: the domain's start move, shared by every statement that leases,
    leasing each job to ``owner``, an SQL expression), the keys of deleted jobs
    (``_released_keys.sql``, shared by the deletes) and the jobs browser's filters
    (``_job_filter.sql``) filled in."""
    qualified = ", ".join(f"j.{column}" for column in JOB_COLUMNS.split(", "))
    text = _read(name).replace("{lease}", _fragment("_lease").replace("{owner}", owner))
    text = text.replace("{released_keys}", _fragment("_released_keys"))
    text = text.replace("{job_filter}", _fragment("_job_filter"))
    return text.replace("{j.columns}", qualified).replace("{columns}", JOB_COLUMNS).encode()


#: The statuses of a result that returns rows (whose columns have names).
_ROWS = frozenset({ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK})


def column_names(cursor: AsyncCursor[Any]) -> list[str] | None:
    """The names of the current result's columns; None when it returns no rows.

    Read from the result itself, as psycopg's own row factories do: ``description``
    builds a Column, its type looked up, for every column, 20 µs against 2.5 for a
    job's 19 columns; a job's claim and its completion each read one result.
    """
    result = cursor.pgresult
    if result is None or result.status not in _ROWS:
        return None
    encoding = cursor._encoding  # the connection's, as psycopg decodes names
    return [result.fname(i).decode(encoding) for i in range(result.nfields)]  # type: ignore[union-attr]


class JobColumns:
    """Where a result's columns are, found by their names once per result: every job
    column, and any other a statement returns beside them.

    A row is then read with one C-level getter, in Job's field order (``JOB_FIELDS``,
    whose names were looked up). Looking the names up per row costs the hot path:
    psycopg's ``dict_row`` and ``Job(**row)`` took 3.4 µs per job against 0.45 this
    way and 0.35 by fixed positions (``scripts/bench_rows.py``, 1,000 rows), and a job
    is read twice (its claim, its completion) for 70-100 µs of server CPU in all.
    """

    def __init__(self, cursor: AsyncCursor[Any], names: list[str] | None = None) -> None:
        self._names = names if names is not None else column_names(cursor) or []
        self._job_values = itemgetter(*(self.at(name) for name in JOB_FIELDS))

    def at(self, name: str) -> int:
        """The position of the column called ``name``."""
        return self._names.index(name)

    def job(self, row: Sequence[Any]) -> Job:
        job = Job(*self._job_values(row))
        job.status = STATUS_OF[job.status]  # read as its stored name
        stored: str = job.attempts  # type: ignore[assignment]  # the jsonb array's text
        if stored == "[]":
            job.attempts = ()
        else:  # arrays of the fields in order: 3.5 µs a record against 6.5 as objects
            job.attempts = tuple(
                Attempt(int(n), worker, float(started), float(ended), outcome, error)
                for n, worker, started, ended, outcome, error in json.loads(stored)
            )
        return job


def job_row(cursor: AsyncCursor[Any]) -> RowMaker[Job]:
    """A psycopg row factory: each row a Job, each field from the column of its name."""
    names = column_names(cursor)
    return no_result if names is None else JobColumns(cursor, names).job
