"""`stackduck bench --soak SECONDS`: a steady load for a long time, and what it leaves.

Seed-style producers offer ``--rate`` jobs/s with unary ``EnqueueJob`` for SECONDS;
workers on ``ConsumeJobs`` streams complete them, failing a share of first attempts so
those come back through a retry. The server's resident memory is sampled all along.
Once the producers stop, the workers get up to ``--drain-seconds`` to finish, and
every acknowledged job is accounted for: completed, still pending (queued or
running), dead, or lost (none of those: the server no longer knows it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import grpc
from rich.console import Console

from stackduck.entrypoints.bench.runner import MP, ServerMeter
from stackduck.entrypoints.bench.served import serving
from stackduck.entrypoints.bench.soak_load import (
    CALL_SECONDS,
    SoakProducerPlan,
    SoakWorkerPlan,
    run_soak_producer,
    run_soak_worker,
)
from stackduck.entrypoints.bench.storage import missing, provision
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub

JOB_TYPE = "bench-soak"
SAMPLE_SECONDS = 1.0
LOOKUPS_AT_ONCE = 16
DRAIN_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class SoakOptions:
    seconds: float
    rate: float = 500.0
    fail_share: float = 0.1  # of first attempts answered with FailJob
    retry_delay: int = 1  # seconds before a failed job's second attempt
    drain_seconds: float = 60.0
    warm_up: float = 0.2  # share of the time after which memory counts as warm
    producers: int = 2
    workers: int = 2
    in_flight: int = 20  # unacknowledged jobs per stream
    payload_bytes: int = 100


@dataclass
class SoakResult:
    config: str
    seconds: float = 0.0  # how long the load ran
    rate: float = 0.0  # jobs/s offered
    enqueued: int = 0  # EnqueueJob answered with an id
    enqueue_errors: int = 0  # EnqueueJob failed (not acknowledged: not counted anywhere)
    completed: int = 0
    pending: int = 0  # queued or running after the drain
    dead: int = 0
    lost: int = 0  # acknowledged, and at the end neither completed, pending nor dead
    lost_ids: list[str] = field(default_factory=list)  # the first few
    failed_on_purpose: int = 0  # first attempts answered with FailJob, retried
    answer_errors: int = 0  # CompleteJob / FailJob calls that failed
    drained_seconds: float = 0.0  # from the producers' end until every job was answered
    # The server's resident memory: at the start, after the warm-up share of the time,
    # at the end of the load and after the drain; growth from warm to end.
    rss_mb: dict[str, float] = field(default_factory=dict)
    rss_growth_pct: float = 0.0
    server_cpu_us: float = 0.0  # the server's CPU during the load, per job enqueued
    skipped: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--soak",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="instead of the scenarios: a steady unary load for SECONDS, then an account of every job "
        "and of the server's memory",
    )
    parser.add_argument("--rate", type=float, default=SoakOptions.rate, help="soak: jobs/s offered")
    parser.add_argument(
        "--fail-share", type=float, default=SoakOptions.fail_share, help="soak: first attempts failed"
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=SoakOptions.drain_seconds,
        help="soak: how long workers get to finish after the load",
    )


def run(args: argparse.Namespace, configs: list[str]) -> int:
    options = SoakOptions(
        seconds=args.soak,
        rate=args.rate,
        fail_share=args.fail_share,
        drain_seconds=args.drain_seconds,
        producers=args.producers,
        workers=args.workers,
        in_flight=max(args.in_flight // 10, 1),
        payload_bytes=args.payload_bytes,
    )
    if options.rate <= 0 or not 0 <= options.fail_share <= 1:
        print("--rate must be positive and --fail-share between 0 and 1", file=sys.stderr)
        return 2
    results = asyncio.run(_soak_all(args, configs, options))
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        console = Console(width=200)
        for line in report_lines(results):
            console.print(line)
    return 1 if any(r.lost for r in results) else 0


async def _soak_all(args: argparse.Namespace, configs: list[str], options: SoakOptions) -> list[SoakResult]:
    console = Console(stderr=True)
    if args.address:
        return [await Soak(args.address, options, None, console).run(SoakResult(args.address))]
    results = []
    for config in configs:
        why = missing(config, args.database_url, args.redis_url, args.server_processes)
        if why:
            results.append(SoakResult(config, skipped=why))
            continue
        with provision(config, args.database_url, args.redis_url) as env:
            async with serving(env, args.server_processes) as (address, meter):
                results.append(await Soak(address, options, meter, console).run(SoakResult(config)))
    return results


class Soak:
    def __init__(
        self, address: str, options: SoakOptions, server: ServerMeter | None, console: Console
    ) -> None:
        self._address = address
        self._options = options
        self._server = server  # None against --address: its memory is not ours to read
        self._console = console

    def _rss(self) -> float:
        return self._server.resident_mb() if self._server is not None else 0.0

    def _cpu(self) -> float:
        return self._server.cpu_seconds() if self._server is not None else 0.0

    async def run(self, result: SoakResult) -> SoakResult:
        o = self._options
        result.rate = o.rate
        result.rss_mb["start"] = self._rss()
        done = MP.Value("q", 0)
        stop = MP.Event()
        outbox = MP.Queue()
        workers = [
            MP.Process(
                target=run_soak_worker,
                args=(
                    SoakWorkerPlan(self._address, JOB_TYPE, f"bench-soak-{i}", o.in_flight, o.fail_share),
                    stop,
                    done,
                    outbox,
                ),
                daemon=True,
            )
            for i in range(o.workers)
        ]
        for process in workers:
            process.start()
        try:
            acknowledged, cpu = await self._offer(result)
            result.server_cpu_us = cpu / max(len(acknowledged), 1) * 1e6
            # The last sample of the load, taken before the producers' reports (every id they
            # enqueued) reach this process: an in-process server shares its memory with them.
            result.rss_mb.setdefault("end", self._rss())
            warm = result.rss_mb.setdefault("warm", result.rss_mb["end"])  # a load shorter than a sample
            result.rss_growth_pct = (result.rss_mb["end"] - warm) / warm * 100 if warm else 0.0
            result.drained_seconds = await self._drain(done, len(acknowledged))
        finally:
            stop.set()
            reports = [await asyncio.to_thread(outbox.get, True, 60) for _ in workers]
            for process in workers:
                await asyncio.to_thread(process.join, 30)
        result.rss_mb["drained"] = self._rss()
        completed = {job_id for r in reports for job_id in r["completed"]}
        result.failed_on_purpose = sum(len(r["failed"]) for r in reports)
        result.answer_errors = sum(len(r["errors"]) for r in reports)
        await self._account(result, acknowledged, completed)
        return result

    async def _offer(self, result: SoakResult) -> tuple[list[str], float]:
        """The producers' steady load, memory sampled all along: the ids acknowledged,
        and the server's CPU seconds meanwhile."""
        o = self._options
        rate = o.rate / o.producers
        plans = [
            SoakProducerPlan(self._address, JOB_TYPE, rate, o.seconds, o.payload_bytes, o.retry_delay)
            for _ in range(o.producers)
        ]
        go = MP.Barrier(len(plans) + 1)
        outbox = MP.Queue()
        producers = [
            MP.Process(target=run_soak_producer, args=(plan, go, outbox), daemon=True) for plan in plans
        ]
        for process in producers:
            process.start()
        await asyncio.to_thread(go.wait, 60)
        started, cpu = time.perf_counter(), self._cpu()
        sampling = asyncio.ensure_future(self._sample(result, started))
        try:
            reports = [await asyncio.to_thread(outbox.get, True, o.seconds + 600) for _ in producers]
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
        result.seconds = time.perf_counter() - started
        cpu = self._cpu() - cpu
        for process in producers:
            await asyncio.to_thread(process.join, 30)
        result.enqueue_errors = sum(len(r["errors"]) for r in reports)
        return [job_id for r in reports for job_id in r["acknowledged"]], cpu

    async def _sample(self, result: SoakResult, started: float) -> None:
        o = self._options
        with self._console.status("soak", refresh_per_second=1) as status:
            while True:
                elapsed = time.perf_counter() - started
                if "warm" not in result.rss_mb and elapsed >= o.warm_up * o.seconds:
                    result.rss_mb["warm"] = self._rss()
                if elapsed <= o.seconds:  # the load still runs: nothing of the bench's has grown
                    result.rss_mb["end"] = self._rss()
                status.update(
                    f"soak {result.config}: {elapsed:.0f} of {o.seconds:.0f} s, server {self._rss():,.0f} MiB"
                )
                await asyncio.sleep(SAMPLE_SECONDS)

    async def _drain(self, done: Any, count: int) -> float:
        """Seconds until the workers completed ``count`` jobs, or the drain time is up."""
        started = time.perf_counter()
        for _ in range(int(self._options.drain_seconds / DRAIN_POLL_SECONDS)):
            if done.value >= count:
                break
            await asyncio.sleep(DRAIN_POLL_SECONDS)
        return time.perf_counter() - started

    async def _account(self, result: SoakResult, acknowledged: list[str], completed: set[str]) -> None:
        """Every acknowledged job: completed (as its worker was told), or as the server has it now."""
        result.enqueued = len(acknowledged)
        unanswered = [job_id for job_id in acknowledged if job_id not in completed]
        result.completed = len(acknowledged) - len(unanswered)
        limit = asyncio.Semaphore(LOOKUPS_AT_ONCE)
        async with grpc.aio.insecure_channel(self._address) as channel:
            stub = StackDuckServiceStub(channel)

            async def status(job_id: str) -> str:
                async with limit:
                    try:
                        job = await stub.GetJob(pb.GetJobRequest(job_id=job_id), timeout=CALL_SECONDS)
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() is grpc.StatusCode.NOT_FOUND:
                            return "unknown"
                        raise
                    return str(job.status)

            statuses = await asyncio.gather(*(status(job_id) for job_id in unanswered))
        for job_id, state in zip(unanswered, statuses, strict=True):
            if state == "completed":  # completed, its answer lost on the way back
                result.completed += 1
            elif state in ("queued", "running"):
                result.pending += 1
            elif state == "failed":
                result.dead += 1
            else:  # unknown to the server, or cancelled: nobody here cancels
                result.lost += 1
                if len(result.lost_ids) < 10:
                    result.lost_ids.append(job_id)


def report_lines(results: Iterable[SoakResult]) -> list[str]:
    lines = []
    for r in results:
        if r.skipped:
            lines.append(f"soak, {r.config}: skipped: {r.skipped}")
            continue
        rss = r.rss_mb
        lost = f" (e.g. {', '.join(r.lost_ids[:3])})" if r.lost_ids else ""
        lines.append(
            f"soak, {r.config}: {r.rate:g} jobs/s offered for {r.seconds:.0f} s: "
            f"{r.enqueued:,} enqueued ({r.enqueue_errors:,} refused), {r.completed:,} completed, "
            f"{r.pending:,} pending, {r.dead:,} dead, {r.lost:,} lost{lost}; "
            f"{r.failed_on_purpose:,} first attempts failed on purpose; "
            f"drained in {r.drained_seconds:.1f} s"
        )
        lines.append(
            f"soak, {r.config}: server memory {rss.get('warm', 0):,.0f} MiB after warm-up, "
            f"{rss.get('end', 0):,.0f} MiB at the end ({r.rss_growth_pct:+.1f} %), "
            f"{rss.get('drained', 0):,.0f} MiB after the drain; server CPU {r.server_cpu_us:,.0f} µs per job"
        )
    return lines
