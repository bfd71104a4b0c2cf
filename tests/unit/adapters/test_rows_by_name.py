"""Stores turn jobs into rows and rows into jobs and stats by field name: a value
never lands in another field's place."""

from __future__ import annotations

import dataclasses

import pytest

from stackduck.adapters.redis import fields
from stackduck.application.ports import TypeStats
from stackduck.domain.job import Job, JobStatus
from tests.sample_jobs import distinct_job


def stored(value: object) -> str:
    """A value as a Redis hash holds it."""
    if value is None:
        return ""
    if isinstance(value, tuple):  # the ended attempts
        return fields.attempts_text(value)
    return repr(value) if isinstance(value, float) else str(value)


def test_every_job_field_is_a_hash_field() -> None:
    assert ("id", *fields.FIELDS) == tuple(f.name for f in dataclasses.fields(Job))
    assert set(fields.MUTABLE) < set(fields.FIELDS)


def test_a_hash_row_holds_each_value_under_its_field() -> None:
    job = distinct_job()
    names = ("id", *fields.FIELDS)

    assert dict(zip(names, fields.row(job), strict=True)) == {
        name: stored(getattr(job, name)) for name in names
    }


def test_a_change_row_holds_each_value_under_its_field() -> None:
    job = distinct_job()
    expected = {"id": job.id, "expected_version": "14"}
    expected |= {name: stored(getattr(job, name)) for name in fields.MUTABLE}

    row = fields.mutable_row(job, 14)

    assert dict(zip(expected, row, strict=True)) == expected


def test_a_hash_reads_back_as_the_job_it_was_written_from() -> None:
    job = distinct_job()
    job_id, *values = fields.row(job)

    assert fields.decode(job_id, values) == job


def test_empty_optional_values_read_as_none() -> None:
    job = distinct_job()
    job.status, job.started_at, job.completed_at, job.lease_owner, job.lease_expires_at = (
        JobStatus.QUEUED, None, None, None, None,
    )  # fmt: skip
    job_id, *values = fields.row(job)

    assert fields.decode(job_id, values) == job


def test_type_stats_are_built_by_field_name_only() -> None:
    counts = ("a", (1, 2, 3), 4, 5, 6, 7, 8)
    with pytest.raises(TypeError):
        TypeStats(*counts)  # type: ignore[call-arg]
