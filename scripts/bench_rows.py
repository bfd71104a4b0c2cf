"""What reading a job's row by name costs against reading it by position, in process.

    .venv/bin/python scripts/bench_rows.py [--rows 1000] [--rounds 25] [--server-us 70]

Every claim and every completion turns rows into jobs, so this is per-job work on the
hot path. The script decodes ROWS sample jobs (no server: the rows are built in
memory, as the drivers hand them over) in each form, and prints the best of ROUNDS
rounds in µs per job, and what each form adds to a job's server CPU (SERVER_US, the
end-to-end batch figure of README's table) given that a job is read twice on that
path (its claim, its completion).

* PostgreSQL: psycopg's tuple rows read by position (the status at index 6); psycopg's
  ``dict_row`` and ``Job(**row)``; ``queries.JobColumns`` (what the store uses): the
  columns looked up by name once per result, each row then read by one getter.
* Redis: the hash's values as the scripts return them (a list in ``FIELDS`` order)
  read as ``v[0]`` … ``v[16]``; zipped with ``FIELDS`` into a dict read by name;
  unpacked in ``FIELDS`` order with the Job built by position, or by keyword
  (``fields.decode``, what the store uses).
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from psycopg import pq
from psycopg.rows import dict_row

from stackduck.adapters.postgres import queries
from stackduck.adapters.redis import fields
from stackduck.domain.job import STATUS_OF, Job


def sample_jobs(count: int) -> list[Job]:
    """Half running (what a claim returns), half completed (what a completion returns)."""
    jobs = []
    for n in range(count):
        at = 1_800_000_000.0 + n / 7
        job = Job(
            f"0199{n:04x}-7d1e-7000-8000-{n:012x}", "email", f'{{"to": "user{n}@example.com"}}',
            1 + n % 3, 30, 3, STATUS_OF["queued"], at, at, at,
        )  # fmt: skip
        job.start(f"worker-{n % 10}", at + 1, 30.0)
        if n % 2:
            job.complete(job.lease_owner, job.attempt, at + 2)
        jobs.append(job)
    return jobs


# -- PostgreSQL -------------------------------------------------------------------


class _Result:
    """What ``dict_row`` reads of a result: its column names."""

    status = pq.ExecStatus.TUPLES_OK

    def __init__(self, names: Sequence[str]) -> None:
        self._names = [name.encode() for name in names]
        self.nfields = len(names)

    def fname(self, column: int) -> bytes:
        return self._names[column]


class _Cursor:
    """What the row readers read of a cursor: its result's column names."""

    _encoding = "utf-8"

    def __init__(self, names: Sequence[str]) -> None:
        self.pgresult = _Result(names)
        self.description = [SimpleNamespace(name=name) for name in names]


def postgres_positional(row: tuple[Any, ...]) -> Job:
    """By position: the columns in Job's field order, the status patched at its index."""
    values = list(row)
    values[6] = STATUS_OF[row[6]]
    return Job(*values)


def postgres_dict(row: dict[str, Any]) -> Job:
    row["status"] = STATUS_OF[row["status"]]
    return Job(**row)


def postgres_forms(jobs: list[Job]) -> dict[str, Callable[[], object]]:
    # Names as psycopg makes them: decoded from the result, so not interned.
    names = [name.encode().decode() for name in queries.JOB_FIELDS]
    tuples = [tuple(getattr(job, name) for name in names) for job in jobs]
    tuples = [(*row[:6], row[6].value, *row[7:]) for row in tuples]  # status as stored
    cursor = _Cursor(names)
    make_dict = dict_row(cursor)  # type: ignore[arg-type]
    job_of = queries.job_row(cursor)  # type: ignore[arg-type]

    def positional() -> object:
        return [postgres_positional(row) for row in tuples]

    def by_dict() -> object:  # a row maker runs per row inside psycopg's fetch
        return [postgres_dict(make_dict(row)) for row in tuples]

    def by_columns() -> object:
        return [job_of(row) for row in tuples]

    return {
        "by position (tuple, [6] patched)": positional,
        "by name per row (dict_row)": by_dict,
        "by name per result (JobColumns)": by_columns,
    }


# -- Redis ------------------------------------------------------------------------


def redis_positional(job_id: str, v: Sequence[str | None]) -> Job:
    """By position: ``v[0]`` … ``v[16]`` in ``FIELDS`` order."""
    return Job(
        job_id, v[0] or "", v[1] or "", int(v[2] or ""), int(v[3] or ""), int(v[4] or ""),
        STATUS_OF[v[5] or ""], float(v[6] or ""), float(v[7] or ""), float(v[8] or ""),
        int(v[9] or ""), int(v[10] or ""), v[11] or "", float(v[12]) if v[12] else None,
        float(v[13]) if v[13] else None, v[14] or None, float(v[15]) if v[15] else None,
        int(v[16] or ""),
    )  # fmt: skip


def redis_named(job_id: str, values: Sequence[str | None]) -> Job:
    """By name: the values zipped with ``FIELDS``, each read by its field's name."""
    f = dict(zip(fields.FIELDS, values, strict=True))
    started, completed, expires = f["started_at"], f["completed_at"], f["lease_expires_at"]
    return Job(
        id=job_id,
        job_type=f["job_type"] or "",
        payload=f["payload"] or "",
        priority=int(f["priority"] or ""),
        delay=int(f["delay"] or ""),
        max_retries=int(f["max_retries"] or ""),
        status=STATUS_OF[f["status"] or ""],
        run_at=float(f["run_at"] or ""),
        created_at=float(f["created_at"] or ""),
        updated_at=float(f["updated_at"] or ""),
        retry_count=int(f["retry_count"] or ""),
        attempt=int(f["attempt"] or ""),
        error_message=f["error_message"] or "",
        started_at=float(started) if started else None,
        completed_at=float(completed) if completed else None,
        lease_owner=f["lease_owner"] or None,
        lease_expires_at=float(expires) if expires else None,
        version=int(f["version"] or ""),
    )


def redis_unpacked(job_id: str, values: Sequence[str | None]) -> Job:
    """Unpacked in ``FIELDS`` order, the Job built by position."""
    (
        job_type, payload, priority, delay, max_retries, status, run_at, created_at, updated_at,
        retry_count, attempt, error_message, started_at, completed_at, lease_owner, lease_expires_at,
        version,
    ) = values  # fmt: skip
    return Job(
        job_id, job_type or "", payload or "", int(priority or ""), int(delay or ""),
        int(max_retries or ""), STATUS_OF[status or ""], float(run_at or ""),
        float(created_at or ""), float(updated_at or ""), int(retry_count or ""),
        int(attempt or ""), error_message or "", float(started_at) if started_at else None,
        float(completed_at) if completed_at else None, lease_owner or None,
        float(lease_expires_at) if lease_expires_at else None, int(version or ""),
    )  # fmt: skip


def redis_forms(jobs: list[Job]) -> dict[str, Callable[[], object]]:
    rows = [fields.row(job) for job in jobs]  # the id, then the hash's values
    pairs = [(row[0], row[1:]) for row in rows]

    def form(decode: Callable[[str, Sequence[str | None]], Job]) -> Callable[[], object]:
        return lambda: [decode(job_id, values) for job_id, values in pairs]

    return {
        "by position (v[0] … v[16])": form(redis_positional),
        "by name (dict of FIELDS)": form(redis_named),
        "unpacked, Job by position": form(redis_unpacked),
        "unpacked, Job by name (decode)": form(fields.decode),
    }


def best_us_per_row(form: Callable[[], object], rows: int, rounds: int) -> float:
    return min(timeit.repeat(form, number=20, repeat=rounds)) / 20 / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--server-us", type=float, default=70.0)
    args = parser.parse_args()
    jobs = sample_jobs(args.rows)
    for store, forms in (("postgres", postgres_forms(jobs)), ("redis", redis_forms(jobs))):
        for label, form in forms.items():
            assert form() == jobs, f"{store}: {label} decodes wrongly"
        times = {label: best_us_per_row(form, args.rows, args.rounds) for label, form in forms.items()}
        base = next(iter(times.values()))
        print(f"{store}, {args.rows:,} rows, best of {args.rounds} rounds, µs per job:")
        for label, took in times.items():
            added = 2 * (took - base)
            share = added / args.server_us
            print(
                f"  {label:<34} {took:5.2f}  {added:+5.2f} µs a job ({share:+.1%} of {args.server_us:g} µs)"
            )


if __name__ == "__main__":
    main()
