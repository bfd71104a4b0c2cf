"""Operator commands that talk to a running server over gRPC:
`stackduck enqueue | stats | jobs | workers | dlq list|requeue|purge | pause | resume`,
`stackduck schedules list|add|remove|pause|resume` and `stackduck limit TYPE | limits`."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from stackduck.client import AsyncClient, JobInfo, LimitInfo, ScheduleInfo
from stackduck.domain.errors import InvalidJob, StackduckError
from stackduck.entrypoints.cli.tls import add_tls_options

Command = Callable[[AsyncClient, argparse.Namespace], Awaitable[Any]]


def _calls(parser: argparse.ArgumentParser, action: Command) -> argparse.ArgumentParser:
    """The options every command that calls the server takes, and what it runs."""
    parser.add_argument("--address", help="the server (default: SERVER_ADDR or 127.0.0.1:50051)")
    parser.add_argument("--token", help="bearer token (default: STACKDUCK_AUTH_TOKEN)")
    add_tls_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=lambda args: _run(action, args))
    return parser


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def command(name: str, help_text: str, action: Command) -> argparse.ArgumentParser:
        return _calls(commands.add_parser(name, help=help_text), action)

    enqueue = command("enqueue", "enqueue a job", _enqueue)
    enqueue.add_argument("job_type")
    enqueue.add_argument("payload", nargs="?", default="{}", help="a JSON text (default {})")
    enqueue.add_argument("--priority", type=int)
    enqueue.add_argument("--delay", type=int, help="retry backoff base, seconds")
    enqueue.add_argument("--max-retries", type=int)
    enqueue.add_argument("--in", dest="scheduled_in", type=float, help="first run this many seconds from now")
    enqueue.add_argument("--timeout", type=float, help="run time allowed per attempt, seconds")
    enqueue.add_argument(
        "--idempotency-key", help="at most one job of this type with this key: a repeat answers its id"
    )
    enqueue.add_argument("--group", help="the fair-queue group within the type: groups take turns")

    stats = command("stats", "queue depths, rates and pauses per job type", _stats)
    stats.add_argument("job_type", nargs="?")

    jobs = command("jobs", "list jobs, or show one (--id) with its result, metadata and attempts", _jobs)
    jobs.add_argument("--id", dest="job_id", help="show this job whole (the filters are then ignored)")
    jobs.add_argument("--type", dest="job_type")
    jobs.add_argument("--status", choices=["queued", "running", "completed", "failed", "cancelled"])
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--page-token")

    command("workers", "workers connected to the server", _workers)

    dlq = command("dlq", "dead letters: list, requeue or purge", _dlq)
    dlq.add_argument("action", choices=["list", "requeue", "purge"])
    dlq.add_argument("job_ids", nargs="*", help="these dead letters (requeue/purge)")
    dlq.add_argument("--type", dest="job_type", help="every dead letter of this job type")
    dlq.add_argument("--all", dest="everything", action="store_true", help="every dead letter")

    for name, verb in (("pause", "pause"), ("resume", "resume")):
        toggle = command(name, f"{verb} a job type (paused: accepts jobs, delivers none)", _toggle)
        toggle.add_argument("job_type")

    _add_schedule_commands(
        commands.add_parser("schedules", help="periodic schedules: list, add, remove, ...")
    )

    limit = command("limit", "set a job type's limits, across every instance (or --clear them)", _limit)
    limit.add_argument("job_type")
    limit.add_argument(
        "--concurrency", metavar="N", type=int, help="at most this many of its jobs running at once"
    )
    limit.add_argument("--rate", metavar="R", type=float, help="at most this many starts per period")
    limit.add_argument("--per", metavar="S", type=float, help="the rate's period, seconds (default 1)")
    limit.add_argument(
        "--burst", metavar="B", type=int, help="starts allowed at once (default: the rate rounded up)"
    )
    limit.add_argument(
        "--group-concurrency", metavar="M", type=int, help="at most this many of one group's jobs running"
    )
    limit.add_argument("--clear", action="store_true", help="remove the type's limits: held jobs start")
    command("limits", "every limit: running jobs against it, rate, burst and tokens now", _limits)


def _add_schedule_commands(schedules: argparse.ArgumentParser) -> None:
    actions = schedules.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        return _calls(actions.add_parser(name, help=help_text), _schedules)

    action("list", "every schedule: its rule, next and last run, whether paused")
    add = action("add", "create a schedule, or replace the one of that name")
    add.add_argument("name", help="letters, digits, '.', '_' and '-'")
    add.add_argument("job_type")
    add.add_argument("payload", nargs="?", default="{}", help="the jobs' payload, a JSON text (default {})")
    rule = add.add_mutually_exclusive_group(required=True)
    rule.add_argument("--cron", help="a 5-field cron expression, such as '0 3 * * *'")
    rule.add_argument("--every", type=int, help="every this many seconds")
    add.add_argument("--timezone", default="UTC", help="an IANA time zone for --cron (default UTC)")
    add.add_argument(
        "--no-catch-up",
        dest="catch_up",
        action="store_false",
        help="skip the ticks missed while the servers were down (default: one job for them)",
    )
    add.add_argument("--priority", type=int)
    add.add_argument("--delay", type=int, help="retry backoff base, seconds")
    add.add_argument("--max-retries", type=int)
    add.add_argument("--timeout", type=float, help="run time allowed per attempt, seconds")
    add.add_argument("--group", help="the fair-queue group of the jobs it enqueues")
    for name, help_text in (
        ("show", "one schedule: its rule, next and last run, its jobs' options"),
        ("remove", "remove a schedule (the jobs it enqueued stay)"),
        ("pause", "pause a schedule: no tick fires until resumed"),
        ("resume", "resume a schedule from its next tick"),
    ):
        action(name, help_text).add_argument("name")


def _run(action: Command, args: argparse.Namespace) -> int:
    async def call() -> Any:
        async with AsyncClient(args.address, token=args.token, tls=args.tls, tls_ca=args.tls_ca) as client:
            return await action(client, args)

    try:
        result = asyncio.run(call())
    except (StackduckError, ValueError) as exc:  # ValueError: a TLS option names no CA file
        print(f"stackduck: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(_plain(result), indent=2, default=str))
    else:
        Console(width=160).print(_human(args, result))
    return 0


async def _enqueue(client: AsyncClient, args: argparse.Namespace) -> dict[str, str]:
    job_id = await client.enqueue(
        args.job_type,
        args.payload,
        priority=args.priority,
        delay=args.delay,
        max_retries=args.max_retries,
        scheduled_in=args.scheduled_in,
        timeout=args.timeout,
        idempotency_key=args.idempotency_key,
        group=args.group,
    )
    return {"job_id": job_id}


async def _stats(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await client.queue_stats(args.job_type)


async def _jobs(client: AsyncClient, args: argparse.Namespace) -> Any:
    if args.job_id is not None:
        return await client.get(args.job_id)
    return await client.list_jobs(args.job_type, args.status, limit=args.limit, page_token=args.page_token)


async def _workers(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await client.workers()


async def _dlq(client: AsyncClient, args: argparse.Namespace) -> Any:
    if args.action == "list":
        return await client.dead_letters(args.job_type, limit=100)
    ids = tuple(args.job_ids)
    bulk = client.requeue_dead_letters if args.action == "requeue" else client.purge_dead_letters
    count = await bulk(ids, job_type=args.job_type, everything=args.everything)
    return {"requeued" if args.action == "requeue" else "purged": count}


async def _toggle(client: AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    paused = args.command == "pause"
    await (client.pause if paused else client.resume)(args.job_type)
    return {"job_type": args.job_type, "paused": paused}


async def _schedules(client: AsyncClient, args: argparse.Namespace) -> Any:
    if args.action == "list":
        return await client.schedules()
    if args.action == "add":
        return await client.schedule(
            args.name,
            args.job_type,
            args.payload,
            cron=args.cron,
            every=args.every,
            timezone=args.timezone,
            catch_up=args.catch_up,
            priority=args.priority,
            delay=args.delay,
            max_retries=args.max_retries,
            timeout=args.timeout,
            group=args.group,
        )
    if args.action == "show":
        return await client.get_schedule(args.name)
    if args.action == "remove":
        await client.unschedule(args.name)
        return {"removed": args.name}
    change = client.pause_schedule if args.action == "pause" else client.resume_schedule
    return await change(args.name)


async def _limit(client: AsyncClient, args: argparse.Namespace) -> Any:
    shaping = {
        "concurrency": args.concurrency,
        "rate": args.rate,
        "per": args.per,
        "burst": args.burst,
        "group-concurrency": args.group_concurrency,
    }
    given = [f"--{name}" for name, value in shaping.items() if value is not None]
    if args.clear:
        if given:
            raise InvalidJob(f"--clear removes the whole limit: give it alone, without {', '.join(given)}")
        return {"job_type": args.job_type, "cleared": await client.clear_limit(args.job_type)}
    if args.rate is None and (args.per is not None or args.burst is not None):
        raise InvalidJob("--per and --burst shape a rate: give --rate with them")
    if not given:
        raise InvalidJob(
            "give --concurrency N, --group-concurrency M, --rate R, or several (they replace the "
            "whole limit), or --clear"
        )
    return await client.set_limit(
        args.job_type,
        concurrency=args.concurrency,
        rate=args.rate,
        per=1.0 if args.per is None else args.per,
        burst=args.burst,
        group_concurrency=args.group_concurrency,
    )


async def _limits(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await client.limits()


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


STATS_HEADINGS = ["job type", "ready p1", "p2", "p3", "scheduled", "running", "dead"]
STATS_HEADINGS += ["done/min", "dead/min", "failing", "paused"]
JOB_HEADINGS = ["id", "type", "status", "priority", "retries", "error", "updated"]
ATTEMPT_HEADINGS = ["attempt", "worker", "started", "ended", "outcome", "error"]
WORKER_HEADINGS = ["worker", "job types", "in flight", "connected", "last seen", "client"]
SCHEDULE_HEADINGS = ["name", "job type", "group", "rule", "catch up", "next run", "last run", "paused"]
LIMIT_HEADINGS = ["job type", "running / limit", "per group", "rate", "burst", "tokens"]


def _human(args: argparse.Namespace, result: Any) -> Any:
    if args.command == "stats":
        return _table(STATS_HEADINGS, [_queue_row(q) for q in result])
    if isinstance(result, JobInfo):
        return _job_detail(result)
    if args.command in ("jobs", "dlq") and hasattr(result, "jobs"):
        table = _table(JOB_HEADINGS, [_job_row(j) for j in result.jobs])
        if result.next_page_token:
            table.caption = f"more: --page-token {result.next_page_token}"
        return table
    if args.command == "workers":
        return _table(WORKER_HEADINGS, [_worker_row(w) for w in result])
    if isinstance(result, ScheduleInfo):
        result = [result]
    if args.command == "schedules" and isinstance(result, list):
        return _table(SCHEDULE_HEADINGS, [_schedule_row(s) for s in result])
    if isinstance(result, LimitInfo):
        result = [result]
    if args.command in ("limit", "limits") and isinstance(result, list):
        return _table(LIMIT_HEADINGS, [_limit_row(i) for i in result])
    return "\n".join(f"{key}: {value}" for key, value in result.items())


def _queue_row(q: Any) -> list[Any]:
    done, dead = q.completed_last_minute, q.dead_last_minute
    paused = "yes" if q.paused else ""
    return [q.job_type, *q.ready, q.scheduled, q.running, q.dead, done, dead, f"{q.failure_rate:.1%}", paused]


def _job_row(j: Any) -> list[Any]:
    retries = f"{j.retry_count}/{j.max_retries}"
    return [j.id, j.job_type, j.status.value, j.priority, retries, j.error_message or "", _when(j.updated_at)]


def _job_detail(job: JobInfo) -> Group:
    """One job whole: its fields, then its attempts."""
    fields = Table(show_header=False, box=None)
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    timeout = f"{job.timeout:g} s" if job.timeout else "none"
    metadata = "\n".join(f"{key}={value}" for key, value in sorted(job.metadata.items()))
    for name, value in [
        ("id", job.id),
        ("type", job.job_type),
        ("status", job.status.value),
        ("priority", job.priority),
        ("retries", f"{job.retry_count}/{job.max_retries}"),
        ("payload", job.raw_payload),
        ("result", job.raw_result if job.raw_result is not None else "none"),
        ("metadata", metadata or "none"),
        ("timeout", timeout),
        ("attempt deadline", _when(job.attempt_deadline)),
        ("error", job.error_message or ""),
        ("worker", job.worker_id or ""),
        ("scheduled", _when(job.scheduled_at)),
        ("created", _when(job.created_at)),
        ("updated", _when(job.updated_at)),
    ]:
        fields.add_row(name, Text(str(value)))
    attempts = _table(ATTEMPT_HEADINGS, [_attempt_row(a) for a in job.attempts])
    attempts.title = "attempts" if job.attempts else "attempts: none ended yet"
    return Group(fields, attempts)


def _attempt_row(a: Any) -> list[Any]:
    return [a.number, a.worker_id, _when(a.started_at), _when(a.ended_at), a.outcome, a.error or ""]


def _worker_row(w: Any) -> list[Any]:
    in_flight = f"{len(w.in_flight)}/{w.max_in_flight}"
    seen = (_when(w.connected_at), _when(w.last_seen_at))
    return [w.worker_id, ", ".join(w.job_types), in_flight, *seen, w.peer]


def _schedule_row(s: ScheduleInfo) -> list[Any]:
    next_run = "paused" if s.paused else _when(s.next_run)
    return [
        s.name,
        s.job_type,
        s.group or "",
        s.rule,
        "yes" if s.catch_up else "",
        next_run,
        _when(s.last_run) or "never",
        "yes" if s.paused else "",
    ]


def _limit_row(i: LimitInfo) -> list[Any]:
    running = f"{i.running} / {i.concurrency if i.concurrency else 'none'}"
    rate = f"{i.rate:g} per {i.per:g} s" if i.rate else ""
    # Rounded down: "1.0" means a start is allowed now, never a 0.96 shown as one.
    tokens = f"{math.floor(i.tokens * 10) / 10:.1f}" if i.tokens is not None else ""
    return [i.job_type, running, i.group_concurrency or "", rate, i.burst or "", tokens]


def _table(headings: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table()
    for heading in headings:
        table.add_column(heading)
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))  # as is: brackets are no markup
    return table
