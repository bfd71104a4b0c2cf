"""`stackduck bench`: every storage configuration, or one server by address, measured."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from dataclasses import asdict
from functools import partial

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stackduck.entrypoints.bench import soak
from stackduck.entrypoints.bench.claim_counts import ClaimCounts
from stackduck.entrypoints.bench.machine import QUIET_BUSY, settle
from stackduck.entrypoints.bench.runner import FLAT, Options, Result, Scenarios
from stackduck.entrypoints.bench.runner import Progress as ProgressReport
from stackduck.entrypoints.bench.served import serving
from stackduck.entrypoints.bench.storage import CONFIGS, checkpoint, missing, provision

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure throughput and latency on every storage configuration",
        description="Starts a server per storage configuration in this process (or targets --address), runs "
        "producers and workers as separate processes over real gRPC, and prints a table.",
    )
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated: " + ", ".join(CONFIGS))
    parser.add_argument("--address", help="benchmark a running server instead (one configuration: its own)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or LOCAL_POSTGRES)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or LOCAL_REDIS)
    parser.add_argument("--jobs", type=int, default=Options.jobs, help="jobs per batch-path scenario")
    parser.add_argument("--seed-jobs", type=int, default=Options.seed_jobs, help="jobs per unary scenario")
    parser.add_argument("--payload-bytes", type=int, default=Options.payload_bytes)
    parser.add_argument("--producers", type=int, default=Options.producers, help="producer processes")
    parser.add_argument("--workers", type=int, default=Options.workers, help="worker processes")
    parser.add_argument(
        "--in-flight", type=int, default=Options.in_flight, help="unacknowledged jobs per stream"
    )
    parser.add_argument("--batch", type=int, default=Options.batch, help="jobs per EnqueueJobs call")
    parser.add_argument("--latency-rate", type=float, default=Options.latency_rate, help="offered jobs/s")
    parser.add_argument("--latency-seconds", type=float, default=Options.latency_seconds)
    parser.add_argument(
        "--latency-in-flight",
        type=int,
        default=Options.latency_in_flight,
        help="the latency worker's unacknowledged jobs (1 = a strictly serial worker)",
    )
    parser.add_argument("--streams", type=int, default=Options.streams, help="fan-out streams (0 = skip)")
    parser.add_argument(
        "--backlog",
        type=int,
        default=Options.backlog,
        help="deep-queue scenario: end to end over this many waiting jobs, e.g. 1000000 (0 = skip)",
    )
    parser.add_argument(
        "--limited",
        type=int,
        default=Options.limited,
        help="limit scenario: end to end (batch) with at most this many of its jobs running at once, "
        "e.g. 50 (0 = skip)",
    )
    parser.add_argument(
        "--groups",
        type=int,
        default=Options.groups,
        help="groups scenario: drain jobs spread over a 20th of this many fair-queue groups, then over "
        "this many, e.g. 10000 (0 = skip)",
    )
    parser.add_argument(
        "--extras",
        action="store_true",
        help="every job carries metadata (a trace context) and a timeout, and is completed with a "
        "result: what those fields cost when used",
    )
    parser.add_argument(
        "--server-processes",
        type=int,
        default=1,
        help="serve each configuration with `stackduck serve --processes N` in processes of its own "
        "(1 = a server inside the bench's process; memory runs only there)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=Options.quiet_wait,
        metavar="SECONDS",
        help="before each configuration and each deep-queue drain, wait at most this long for the "
        "machine to be quiet (what the previous one set off, a checkpoint say, is not measured with "
        "it); 0 = start at once",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    soak.add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = Options(
        jobs=args.jobs,
        seed_jobs=args.seed_jobs,
        payload_bytes=args.payload_bytes,
        producers=args.producers,
        workers=args.workers,
        in_flight=args.in_flight,
        batch=args.batch,
        latency_rate=args.latency_rate,
        latency_seconds=args.latency_seconds,
        latency_in_flight=args.latency_in_flight,
        streams=args.streams,
        backlog=args.backlog,
        extras=args.extras,
        limited=args.limited,
        groups=args.groups,
        quiet_wait=args.quiet_wait,
    )
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        print(f"unknown configuration(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(logging.WARNING)
    if args.soak:
        return soak.run(args, configs)
    results = asyncio.run(_bench(args, configs, options))
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        console = Console(width=200)
        console.print(_table(results, options, args.server_processes))
        lines = _accounting_lines(results) + _limit_lines(results) + _group_lines(results)
        for line in lines + _deep_queue_lines(results) + _settled_lines(results):
            console.print(line)
    return 0


async def _bench(args: argparse.Namespace, configs: list[str], options: Options) -> list[Result]:
    results = []
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    # Drawn in the process that serves (in-process server): 2 redraws a second, not
    # rich's 10, which showed as 2.6% of the server's samples (py-spy).
    with Progress(*columns, console=console, transient=True, refresh_per_second=2) as progress:
        task = progress.add_task("starting", total=1.0)

        def report(what: str, fraction: float) -> None:
            progress.update(task, description=f"{current}: {what}", completed=fraction)

        if args.address:
            current = args.address
            results.append(await Scenarios(args.address, options, report).run(Result(args.address)))
            return results
        for current in configs:
            why = missing(current, args.database_url, args.redis_url, args.server_processes)
            if why:
                results.append(Result(current, skipped=why))
                continue
            results.append(await _one(current, args, options, report))
    return results


async def _one(config: str, args: argparse.Namespace, options: Options, report: ProgressReport) -> Result:
    # What the previous configuration left working (its database dropped, its
    # checkpoint, its processes exiting) is not measured with this one.
    report("waiting for a quiet machine", 0.0)
    settled = await settle(options.quiet_wait)
    result = Result(config, settled=settled.waited, quiet=settled.quiet)
    with provision(config, args.database_url, args.redis_url) as env:
        database = env.get("DATABASE_URL")
        at_rest = partial(checkpoint, database) if database else None
        async with serving(env, args.server_processes) as (address, meter):
            return await Scenarios(address, options, report, meter, at_rest).run(result)


def _accounting_lines(results: list[Result]) -> list[str]:
    """Where each end-to-end job's CPU went: the server, the load, the whole machine."""
    cores = os.cpu_count() or 1
    lines = []
    for r in results:
        parts = []
        for name in ("batch", "seed"):
            if name not in r.machine_cpu_us:
                continue
            server = f"server {r.server_cpu_us[name]:,.0f} µs, " if name in r.server_cpu_us else ""
            steal = r.machine_steal[name]
            parts.append(
                f"{name}: {server}load {r.load_cpu_us[name]:,.0f} µs, whole machine "
                f"{r.machine_cpu_us[name]:,.0f} µs ({r.machine_busy[name]:.0%} of {cores} cores busy"
                + (f", {steal:.0%} stolen" if steal >= 0.01 else "")
                + ")"
            )
        if parts:
            lines.append(f"CPU per job end to end, {r.config}: " + "; ".join(parts))
        if r.seed_floor:
            line = (
                f"seed clients, {r.config}: {r.end_to_end_seed:,.0f} jobs/s, "
                f"{r.end_to_end_seed / r.seed_floor:.0%} of the floor ({r.seed_floor:,.0f}/s: the same load, "
                "a server doing nothing)"
            )
            if "floor-seed" in r.server_cpu_us and "seed" in r.server_cpu_us:
                line += (
                    f"; server CPU per job {r.server_cpu_us['seed']:,.0f} µs "
                    f"(floor {r.server_cpu_us['floor-seed']:,.0f})"
                )
            if r.latency_floor_ms:
                line += (
                    f"; latency p50 / p99 {r.latency_ms['p50']:.2f} / {r.latency_ms['p99']:.2f} ms "
                    f"(floor {r.latency_floor_ms['p50']:.2f} / {r.latency_floor_ms['p99']:.2f})"
                )
            lines.append(line)
        if r.floor_rate:
            server = f"server {r.floor_server_us:,.0f} µs, " if r.floor_server_us else ""
            lines.append(
                f"gRPC floor, {r.config}: empty unary health Checks at {r.floor_rate:,.0f}/s; CPU per "
                f"call: {server}callers {r.floor_client_us:,.0f} µs"
            )
    return lines


def _limit_lines(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if not r.limited:
            continue
        cpu = ""
        if "limited" in r.server_cpu_us:
            cpu = (
                f"; server CPU per job {r.server_cpu_us['limited']:,.0f} µs "
                f"(unlimited {r.server_cpu_us['batch']:,.0f} µs)"
            )
        lines.append(
            f"limited, {r.config}: end to end (batch) with at most {r.limited:,} running: "
            f"{r.limited_rate:,.0f} jobs/s (unlimited {r.end_to_end_batch:,.0f}/s){cpu}; "
            f"the most running seen {r.limited_peak:,}"
        )
    return lines


def _group_lines(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if not r.groups:
            continue
        cost = []
        for where, per_job in (("server", r.server_cpu_us), ("whole machine", r.machine_cpu_us)):
            if "groups-many" in per_job:
                few, many = per_job["groups-few"], per_job["groups-many"]
                cost.append(f"{where} {few:,.0f} → {many:,.0f} µs ({many / few - 1:+.0%})")
        few_rate, many_rate = r.groups_rates["few"], r.groups_rates["many"]
        lines.append(
            f"groups, {r.config}: workers drained {few_rate:,.0f} jobs/s with {r.groups_few:,} groups "
            f"waiting, {many_rate:,.0f}/s with {r.groups:,} ({many_rate / few_rate - 1:+.0%})"
            + (f"; CPU per job: {', '.join(cost)}" if cost else "")
        )
    return lines


def _deep_queue_lines(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if not r.backlog:
            continue
        rss = r.backlog_rss_mb
        cpu = ""
        if "backlog" in r.server_cpu_us:
            shallow, deep = r.server_cpu_us["backlog-10"], r.server_cpu_us["backlog"]
            cpu = f"; server CPU per job {shallow:,.0f} → {deep:,.0f} µs"
        if "backlog" in r.machine_cpu_us:
            shallow, deep = r.machine_cpu_us["backlog-10"], r.machine_cpu_us["backlog"]
            cpu += f", whole machine {shallow:,.0f} → {deep:,.0f} µs"
        lines.append(
            f"deep queue, {r.config}: workers drained {r.backlog_rates['10']:,.0f} jobs/s off a short "
            f"queue, {r.backlog_rates['backlog']:,.0f}/s off {r.backlog:,} waiting "
            f"({r.backlog_drained:,} jobs each; filled at {r.backlog_fill:,.0f}/s)"
            f"{cpu}; server memory {rss['before']:,.0f} → {rss['filled']:,.0f} → {rss['after']:,.0f} MiB; "
            f"one QueueStats with them waiting {r.backlog_stats_ms:,.0f} ms"
        )
        lines.append(f"deep / short, {r.config}: {_flatness(r)}")
        if len(r.backlog_claims) == 2:
            off_short, off_deep = (ClaimCounts(**r.backlog_claims[k]) for k in ("backlog-10", "backlog"))
            said = f"{off_short.summary()} off the short queue, {off_deep.summary()} off the deep one"
            lines.append(f"claims, {r.config}: {said}")
    return lines


def _settled_lines(results: list[Result]) -> list[str]:
    """How long each configuration waited for the machine to be quiet before it started."""
    measured = [r for r in results if not r.skipped]
    if not measured:
        return []
    waits = ", ".join(
        f"{r.config} {r.settled:.0f} s" + ("" if r.quiet else " (still busy)") for r in measured
    )
    quiet = f"≤ {QUIET_BUSY:.0%} of it busy for a second"
    return [f"each configuration started once the machine was quiet ({quiet}): {waits}"]


def _flatness(r: Result) -> str:
    """The deep queue's rate and server CPU per job against the short one's, flagged
    when either is more than FLAT worse."""
    rate, cpu = r.backlog_ratios["rate"], r.backlog_ratios.get("server_cpu")
    worse = [f"rate {rate - 1:+.0%}"] if rate < 1 - FLAT else []
    if cpu is not None and cpu > 1 + FLAT:
        worse.append(f"server CPU per job {cpu - 1:+.0%}")
    said = f"rate {rate - 1:+.0%}" + (f", server CPU per job {cpu - 1:+.0%}" if cpu is not None else "")
    least, most = min(r.backlog_settled, default=0.0), max(r.backlog_settled, default=0.0)
    waits = f"{least:.0f} s" if round(least) == round(most) else f"{least:.0f}-{most:.0f} s"
    storage = f"{r.backlog_storage_settled}, " if r.backlog_storage_settled else ""
    turns = f"{len(r.backlog_settled)} turns, short and deep in alternation"
    quiet = (
        f"{turns}, each began {storage}on a quiet machine (waited {waits})"
        if r.backlog_quiet
        else f"{turns}; the machine was still busy when one began {storage}(waited {waits})"
    )
    verdict = (
        f"NOT FLAT: {', '.join(worse)} (more than {FLAT:.0%} worse)" if worse else f"flat (within {FLAT:.0%})"
    )
    return f"{said}: {verdict}; {quiet}"


def _cpu(r: Result) -> str:
    if not r.server_cpu_us:
        return ""
    return " / ".join(
        f"{r.server_cpu_us[k]:,.0f} µs ({r.server_busy[k]:.0%})"
        for k in ("batch", "seed")
        if k in r.server_cpu_us
    )


def _table(results: list[Result], options: Options, server_processes: int) -> Table:
    served = f", server in {server_processes} processes" if server_processes > 1 else ""
    table = Table(
        title=f"stackduck bench — {options.jobs:,} jobs batch paths, {options.seed_jobs:,} unary, "
        f"latency at {options.latency_rate:g} jobs/s{served}"
    )
    for heading in (
        "configuration",
        "enqueue unary",
        "enqueue batch",
        "end to end batch",
        "end to end seed",
        "seed / floor",
        "latency p50 / p95 / p99",
        "streams served",
        "server CPU per job, batch / seed",
    ):
        table.add_column(heading, justify="left" if heading == "configuration" else "right")
    for r in results:
        if r.skipped:
            table.add_row(r.config, f"skipped: {r.skipped}", "", "", "", "", "", "", "")
            continue
        latency = " / ".join(f"{r.latency_ms[p]:.2f}" for p in ("p50", "p95", "p99")) + " ms"
        table.add_row(
            r.config,
            f"{r.enqueue_unary:,.0f}/s",
            f"{r.enqueue_batch:,.0f}/s",
            f"{r.end_to_end_batch:,.0f}/s",
            f"{r.end_to_end_seed:,.0f}/s",
            f"{r.end_to_end_seed / r.seed_floor:.0%} of {r.seed_floor:,.0f}/s" if r.seed_floor else "",
            latency,
            f"{r.streams_served:,}/{r.streams:,} at {r.streams_rate:,.0f}/s" if r.streams else "",
            _cpu(r),
        )
    return table
