"""``stackduck export`` and ``stackduck import``: every job, schedule, limit and paused
type of the configured storage as JSON lines, and those lines into the configured
storage. The way from a SQLite data directory to PostgreSQL when a team outgrows one
machine: stop the server, export with its settings, import with the new ones, start the
server on the new storage.

Jobs keep their ids, states, attempts, results and keys; a job whose idempotency key the
target already holds is skipped (said in the summary). Run both with the server stopped:
a SQLite data directory is one process's, and jobs that move meanwhile would be missed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from functools import partial
from typing import IO, Any

from stackduck.application.ports import JobQuery
from stackduck.container import Container, close_resources, provide
from stackduck.domain.job import STATUS_OF, Attempt, Job
from stackduck.domain.limits import Limit
from stackduck.domain.schedule import Rule, Schedule
from stackduck.entrypoints.cli.server import with_container

log = logging.getLogger("stackduck")

PAGE = 1000
BATCH = 500
#: A page's byte budget: a page of jobs is written out before the next is read.
PAGE_BYTES = 64 * 1024 * 1024


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    out = commands.add_parser(
        "export",
        help="write every job, schedule, limit and paused type of the configured storage as JSON lines",
    )
    out.add_argument(
        "--output", "-o", default="-", help="the file to write ('-', the default: standard output)"
    )
    out.set_defaults(run=lambda args: with_container(partial(export, args.output)))
    into = commands.add_parser(
        "import", help="read what `stackduck export` wrote into the configured storage"
    )
    into.add_argument("input", help="the file to read ('-': standard input)")
    into.set_defaults(run=lambda args: with_container(partial(import_, args.input)))


def job_record(job: Job) -> dict[str, Any]:
    record = {f.name: getattr(job, f.name) for f in fields(Job)}
    record["status"] = job.status.value
    record["attempts"] = [attempt.as_dict() for attempt in job.attempts]
    return record


def job_of(record: dict[str, Any]) -> Job:
    attempts = tuple(Attempt.from_dict(a) for a in record.pop("attempts"))
    return Job(**{**record, "status": STATUS_OF[record["status"]], "attempts": attempts})


def schedule_record(schedule: Schedule) -> dict[str, Any]:
    return asdict(schedule)


def schedule_of(record: dict[str, Any]) -> Schedule:
    return Schedule(**{**record, "rule": Rule(**record["rule"])})


@contextmanager
def _opened(path: str, mode: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdout if mode == "w" else sys.stdin
        return
    with open(path, mode, encoding="utf-8") as file:
        yield file


async def export(path: str, container: Container) -> int:
    """Every job (a page at a time), schedule, limit and paused type, a JSON object a line."""
    try:
        store = await provide(container.store)
        counts = {"job": 0, "schedule": 0, "limit": 0, "paused": 0}
        with _opened(path, "w") as out:

            def write(kind: str, record: dict[str, Any]) -> None:
                out.write(json.dumps({"kind": kind, **record}, separators=(",", ":")) + "\n")
                counts[kind] += 1

            cursor = ""
            while True:
                page = await store.list_jobs(JobQuery(), PAGE, cursor, PAGE_BYTES)
                for job in page.jobs:
                    write("job", job_record(job))
                if not page.next_cursor:
                    break
                cursor = page.next_cursor
            for schedule in await (await provide(container.schedule_store)).read_all():
                write("schedule", schedule_record(schedule))
            for limit in await (await provide(container.limit_store)).limits():
                write("limit", asdict(limit))
            for job_type in sorted(await (await provide(container.paused_types_store)).paused()):
                write("paused", {"job_type": job_type})
        log.warning(
            "exported %d job(s), %d schedule(s), %d limit(s), %d paused type(s) from %s storage",
            counts["job"], counts["schedule"], counts["limit"], counts["paused"], container.config.storage(),
        )  # fmt: skip
        return 0
    except Exception as exc:
        log.error("cannot export: %s", exc)
        return 1
    finally:
        await close_resources(container)


async def import_(path: str, container: Container) -> int:
    """Insert what ``export`` wrote, in batches; a schedule or limit already there is kept."""
    try:
        store = await provide(container.store)
        schedules = await provide(container.schedule_store)
        limits = await provide(container.limit_store)
        paused = await provide(container.paused_types_store)
        key_seconds = container.policy().idempotency_seconds
        now = (await provide(container.clock)).now()
        jobs: list[Job] = []
        counts = {"job": 0, "held": 0, "schedule": 0, "kept": 0, "limit": 0, "paused": 0}

        async def flush() -> None:
            holders = await store.insert(jobs, key_seconds)
            held = sum(holder != job.id for holder, job in zip(holders, jobs, strict=True))
            counts["job"] += len(jobs) - held
            counts["held"] += held
            jobs.clear()

        with _opened(path, "r") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    kind = record.pop("kind")
                except (ValueError, KeyError, AttributeError):
                    log.error("cannot import: line %d is not a line `stackduck export` wrote", number)
                    return 1
                if kind == "job":
                    jobs.append(job_of(record))
                    if len(jobs) == BATCH:
                        await flush()
                elif kind == "schedule":
                    written = await schedules.put(schedule_of(record), None)
                    counts["schedule" if written else "kept"] += 1
                elif kind == "limit":
                    await limits.put(Limit(**record), now)
                    counts["limit"] += 1
                elif kind == "paused":
                    await paused.set_paused(record["job_type"], True)
                    counts["paused"] += 1
        if jobs:
            await flush()
        log.warning(
            "imported %d job(s) (%d skipped: their idempotency key is held here), %d schedule(s) "
            "(%d kept as they were here), %d limit(s), %d paused type(s) into %s storage",
            counts["job"], counts["held"], counts["schedule"], counts["kept"], counts["limit"],
            counts["paused"], container.config.storage(),
        )  # fmt: skip
        return 0
    except Exception as exc:
        log.error("cannot import: %s", exc)
        return 1
    finally:
        await close_resources(container)
