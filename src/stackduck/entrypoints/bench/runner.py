"""Runs the scenarios against one server and measures them."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from stackduck.application.paused_types import CACHE_SECONDS as PAUSE_CACHE_SECONDS
from stackduck.client.channel import open_channel
from stackduck.entrypoints.bench.claim_counts import ClaimCounts, read, scrape
from stackduck.entrypoints.bench.drains import Drains
from stackduck.entrypoints.bench.floor import floor_server
from stackduck.entrypoints.bench.load import ProducerPlan, WorkerPlan, run_producer, run_worker, split
from stackduck.entrypoints.bench.machine import QUIET_PATIENCE, MachineTime, settle, since
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub

Progress = Callable[[str, float], None]  # (what, fraction done)
MP = multiprocessing.get_context("spawn")
#: The floor's calls at the least: a process's CPU clock ticks every 10 ms, and a few
#: dozen empty calls spread over several server processes can read as none.
FLOOR_MIN_CALLS = 1000
#: The deep-queue scenario's drains take this many jobs at the least.
DEEP_DRAIN = 30_000
#: The jobs left on the deep-queue scenario's short queue once it is drained.
SHALLOW = 10
#: The deep-queue scenario's two queues take this many turns each.
TURNS = 3
#: A deep queue is flat when its rate and server CPU per job are within this share of
#: the short queue's.
FLAT = 0.10


@dataclass(frozen=True)
class Options:
    jobs: int = 20_000
    seed_jobs: int = 5_000
    payload_bytes: int = 100
    producers: int = 2
    workers: int = 2
    in_flight: int = 200
    batch: int = 100
    latency_rate: float = 200.0
    latency_seconds: float = 5.0
    # The latency worker's in-flight limit: with 1, each delivery waits for the previous
    # job's CompleteJob and the next claim, so the number measures one worker's serial
    # cycle (and queueing once that cycle passes 1/rate) rather than delivery.
    latency_in_flight: int = 10
    streams: int = 1000  # the fan-out scenario: this many ConsumeJobs streams on one server; 0 = skip
    backlog: int = 0  # the deep-queue scenario: end to end over this many waiting jobs; 0 = skip
    extras: bool = False  # jobs carry metadata and a timeout, and complete with a result
    # Seconds to wait at most for a quiet machine before each configuration and each
    # deep-queue drain (0 = start at once).
    quiet_wait: float = QUIET_PATIENCE
    limited: int = 0  # the limit scenario: end to end (batch) with this concurrency limit; 0 = skip
    groups: int = (
        0  # the groups scenario: drain jobs over a 20th of this many groups, then this many; 0 = skip
    )


@dataclass
class Result:
    config: str
    enqueue_unary: float = 0.0  # jobs/s
    enqueue_batch: float = 0.0
    end_to_end_batch: float = 0.0
    end_to_end_seed: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p95, p99
    streams: int = 0  # streams held open in the fan-out scenario
    streams_served: int = 0  # of those, how many were handed at least one job
    streams_rate: float = 0.0  # jobs/s through them
    # Server CPU per job end to end (µs; batch, seed) and its share of one core, read
    # from this process when it runs the server (0 against --address). Steadier than a
    # rate on a noisy machine, and it says whether the server process was the bound.
    server_cpu_us: dict[str, float] = field(default_factory=dict)
    server_busy: dict[str, float] = field(default_factory=dict)
    # The same scenarios from the other side: the load processes' own CPU per job, and
    # the whole machine's (Linux) - CPU per job and the share of all cores in use. What
    # the server and the load leave of the machine's time went to the databases and the kernel.
    load_cpu_us: dict[str, float] = field(default_factory=dict)
    machine_cpu_us: dict[str, float] = field(default_factory=dict)
    machine_busy: dict[str, float] = field(default_factory=dict)
    machine_steal: dict[str, float] = field(default_factory=dict)  # share of all cores
    # The deep-queue scenario: workers (batch paths) drain jobs off a short queue, then
    # off one ``backlog`` deep; the server's memory (RSS) along the way.
    backlog: int = 0
    backlog_fill: float = 0.0  # jobs/s while filling it
    backlog_rates: dict[str, float] = field(default_factory=dict)  # "10", "backlog": jobs/s
    backlog_rss_mb: dict[str, float] = field(default_factory=dict)  # before, filled, after
    backlog_stats_ms: float = 0.0  # one QueueStats call with the backlog waiting
    backlog_drained: int = 0  # jobs taken off each queue
    # The server's claims during each drain ("backlog-10", "backlog"): ClaimCounts' fields.
    backlog_claims: dict[str, dict[str, float]] = field(default_factory=dict)
    # Deep against short: "rate" (jobs/s) and "server_cpu" (server CPU per job), each
    # deep / short; flat is within FLAT of 1.
    backlog_ratios: dict[str, float] = field(default_factory=dict)
    # Seconds waited for a quiet machine before each drain, and whether it came.
    backlog_settled: list[float] = field(default_factory=list)
    backlog_quiet: bool = True
    backlog_storage_settled: str = ""  # what was done to the storage before each drain
    # Seconds this configuration waited for a quiet machine before its server started.
    settled: float = 0.0
    quiet: bool = True
    # The gRPC floor: unary health Checks (no storage, no Stackduck code) as fast as the
    # producers send them - calls/s, and CPU per call in the server and in the callers.
    floor_rate: float = 0.0
    floor_server_us: float = 0.0
    floor_client_us: float = 0.0
    # The seed path's floor: the seed scenario's load (and the latency scenario's) against
    # a bare grpc.aio server with the same RPCs doing no work (floor.py), in this run.
    seed_floor: float = 0.0  # jobs/s
    latency_floor_ms: dict[str, float] = field(default_factory=dict)
    # The limit scenario: the batch paths end to end with at most ``limited`` of the jobs
    # running at once (across the workers), and the most the server reported running.
    limited: int = 0
    limited_rate: float = 0.0
    limited_peak: int = 0
    # The groups scenario: workers (batch paths) drain the same number of jobs spread
    # over ``groups_few`` groups, then over ``groups``: jobs/s per run ("few", "many").
    groups: int = 0
    groups_few: int = 0
    groups_rates: dict[str, float] = field(default_factory=dict)
    skipped: str = ""


def resident_mb(pid: int | str = "self") -> float:
    """A process's resident memory now (Linux), in MiB; 0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class ServerMeter(Protocol):
    """The server's own CPU time, memory and claims, wherever it runs."""

    def cpu_seconds(self) -> float: ...

    def resident_mb(self) -> float: ...

    async def claims(self) -> ClaimCounts | None:
        """What its claims were so far (None: not a Stackduck server)."""


class ThisProcess:
    """The server runs in the bench's own process (the default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._registry = registry  # its metrics (none: the floor's bare server)

    def cpu_seconds(self) -> float:
        return time.process_time()

    def resident_mb(self) -> float:
        return resident_mb()

    async def claims(self) -> ClaimCounts | None:
        return None if self._registry is None else read(self._registry)


class ProcessTree:
    """The server is another process and those it started (``serve --processes N``),
    read from Linux's /proc."""

    def __init__(self, pid: int, metrics_url: str | None = None) -> None:
        self._pid = pid
        self._tick = os.sysconf("SC_CLK_TCK")
        self._metrics_url = metrics_url  # their /metrics page, every process's counters merged

    async def claims(self) -> ClaimCounts | None:
        return None if self._metrics_url is None else await scrape(self._metrics_url)

    def pids(self) -> list[int]:
        found, pending = [], [self._pid]
        while pending:
            pid = pending.pop()
            found.append(pid)
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for task in tasks:
                try:
                    with open(f"/proc/{pid}/task/{task}/children") as children:
                        pending.extend(int(child) for child in children.read().split())
                except OSError:
                    continue
        return found

    def cpu_seconds(self) -> float:
        ticks = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / self._tick

    def resident_mb(self) -> float:
        return sum(resident_mb(pid) for pid in self.pids())


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(int(fraction * len(sorted_values)), len(sorted_values) - 1)
    return sorted_values[index]


class Scenarios:
    def __init__(
        self,
        address: str,
        options: Options,
        progress: Progress,
        server: ServerMeter | None = None,
        storage_settle: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self._address = address
        self._options = options
        self._progress = progress
        self._server = server  # None against --address: the server's CPU is not ours to read
        # Before a drain: bring the storage to rest (PostgreSQL: a CHECKPOINT); says how.
        self._storage_settle = storage_settle
        self.cpu: dict[str, tuple[float, float]] = {}  # scenario: (cpu µs per job, share of a core)
        self.load: dict[str, float] = {}  # scenario: the load processes' CPU µs per job
        self.machine: dict[str, tuple[float, float, float]] = {}  # scenario: (µs per job, busy, steal)
        self.claims: dict[str, ClaimCounts] = {}  # drain: the server's claims during it

    async def run(self, result: Result) -> Result:
        o = self._options
        result.enqueue_unary = await self.enqueue("enqueue (unary)", "bench-unary", o.seed_jobs, batch=0)
        result.enqueue_batch = await self.enqueue("enqueue (batch)", "bench-batch", o.jobs, batch=o.batch)
        result.end_to_end_batch = await self.end_to_end(
            "end to end (batch)", "bench-e2e", o.jobs, batched=True
        )
        result.end_to_end_seed = await self.end_to_end(
            "end to end (seed clients)", "bench-seed", o.seed_jobs, batched=False
        )
        result.latency_ms = await self.latency("latency", "bench-latency")
        result.seed_floor, result.latency_floor_ms = await self.seed_floor()
        result.floor_rate, result.floor_server_us, result.floor_client_us = await self.floor(
            "gRPC floor", max(o.seed_jobs, FLOOR_MIN_CALLS)
        )
        if o.limited:
            await self.limit(result, o.limited)
        if o.groups:
            await self.fair_groups(result, o.groups)
        if o.backlog:
            await self.deep_queue(result, o.backlog)
        if o.streams:
            result.streams = o.streams
            result.streams_served, result.streams_rate = await self.fan_out(
                f"{o.streams:,} streams", "bench-streams", o.streams
            )
        if self._server is not None:
            for name, (per_job, busy) in self.cpu.items():
                result.server_cpu_us[name], result.server_busy[name] = per_job, busy
        result.load_cpu_us = dict(self.load)
        for name, (per_job, busy, steal) in self.machine.items():
            result.machine_cpu_us[name], result.machine_busy[name], result.machine_steal[name] = (
                per_job,
                busy,
                steal,
            )
        return result

    async def seed_floor(self) -> tuple[float, dict[str, float]]:
        """The seed and latency scenarios' loads against the floor (floor.py), served in
        this process: what the same clients reach when the server does nothing."""
        o = self._options
        async with floor_server() as address:
            floor = Scenarios(address, o, self._progress, ThisProcess())
            rate = await floor.end_to_end(
                "floor: seed clients, a server doing nothing", "bench-floor", o.seed_jobs, batched=False
            )
            latency = await floor.latency("floor: latency", "bench-floor-latency")
        self.cpu["floor-seed"] = floor.cpu["seed"]
        self.load["floor-seed"] = floor.load["seed"]
        if "seed" in floor.machine:
            self.machine["floor-seed"] = floor.machine["seed"]
        return rate, latency

    def _server_cpu(self) -> float:
        return self._server.cpu_seconds() if self._server is not None else 0.0

    def _account(
        self,
        name: str,
        jobs: int,
        machine: MachineTime | None,
        reports: list[dict[str, Any]],
        load_jobs: int | None = None,
    ) -> None:
        """Record the load's and the machine's CPU per job for scenario ``name``: ``jobs``
        done while ``machine`` was read, and ``load_jobs`` (if other) over the load
        processes' lives, which ``reports`` cover."""
        self.load[name] = sum(r["cpu"] for r in reports) / (load_jobs or jobs) * 1e6
        if machine is not None and machine.total > 0:
            self.machine[name] = (
                machine.busy / jobs * 1e6,
                machine.busy / machine.total,
                machine.steal / machine.total,
            )

    async def deep_queue(self, result: Result, backlog: int) -> None:
        """Workers drain jobs off a short queue (10 left at the end) and off one ``backlog``
        deep, two job types side by side: if a claim cost more with more jobs waiting,
        the deep queue's rate and server CPU per job would show it.

        The two take turns - a third of the short queue's drain, then a third of the
        deep one's, TURNS times - each turn on a quiet machine (what the fill set off in
        the databases, checkpoints and the like, is not measured with it), so that a
        stretch of seconds when this machine runs slow or fast falls on both alike. Each
        takes at least DEEP_DRAIN jobs in all, or ``backlog`` if fewer (so that the first
        claims after a fill, on cold caches, are a small part of it). One set of worker
        processes per queue, their streams open from the start, serves all its turns."""
        o = self._options
        count = max(o.jobs // 2, min(backlog, DEEP_DRAIN))
        rss = self._server.resident_mb if self._server is not None else lambda: 0.0
        result.backlog_rss_mb["before"] = rss()
        sides = [
            _Side("backlog-10", "bench-backlog-short", count + SHALLOW, "a short queue"),
            _Side("backlog", "bench-backlog", backlog + count, f"{backlog:,}"),
        ]
        await self._fill(sides[0].job_type, sides[0].filled, "backlog: filling a short queue")
        started = time.perf_counter()
        await self._fill(sides[1].job_type, sides[1].filled, f"backlog: filling {backlog:,}")
        result.backlog_fill = sides[1].filled / (time.perf_counter() - started)
        result.backlog_rss_mb["filled"] = rss()
        result.backlog_stats_ms = await self._stats_ms()
        async with open_channel(self._address) as channel, AsyncExitStack() as stack:
            stub = StackDuckServiceStub(channel)
            for side in sides:
                await stub.PauseQueue(pb.PauseQueueRequest(job_type=side.job_type))
            await self._pause_reached()
            for side in sides:
                side.workers = await stack.enter_async_context(_Workers(self._drain_plans(side.job_type)))
            for turn in range(1, TURNS + 1):
                for side in sides:
                    done = side.workers.done.value
                    if done >= side.filled:  # earlier turns' last claims took what was left
                        continue
                    await self._settle(result, "backlog: waiting for a quiet machine")
                    target = min(side.filled, max(count * turn // TURNS, done + 1))
                    what = f"backlog: draining {side.what} (turn {turn} of {TURNS})"
                    await self._turn(stub, side.job_type, side.workers, target, what, side.drains)
            await stack.aclose()  # the workers stop and report
            for side in sides:
                await stub.ResumeQueue(pb.PauseQueueRequest(job_type=side.job_type))
        for side in sides:
            self._record(side.key, side.drains, side.workers)
        result.backlog_rss_mb["after"] = rss()
        result.backlog, result.backlog_drained = backlog, count
        short, deep = (side.drains for side in sides)
        result.backlog_rates = {"10": short.rate, "backlog": deep.rate}
        result.backlog_ratios["rate"] = deep.rate / short.rate
        if self._server is not None:
            result.backlog_ratios["server_cpu"] = deep.server_cpu_per_job / short.server_cpu_per_job
        result.backlog_claims = {
            k: asdict(self.claims[k]) for k in ("backlog-10", "backlog") if k in self.claims
        }

    async def _settle(self, result: Result, what: str) -> None:
        self._progress(what, 0.0)
        if self._storage_settle is not None:
            result.backlog_storage_settled = await self._storage_settle()
        settled = await settle(self._options.quiet_wait)
        result.backlog_settled.append(settled.waited)
        result.backlog_quiet = result.backlog_quiet and settled.quiet

    async def limit(self, result: Result, concurrency: int) -> None:
        """The batch paths end to end with a concurrency limit on the jobs' type: what
        counting the running jobs in every claim costs, and whether the limit held (the
        running count the server reports, read every 10 ms)."""
        job_type = "bench-limited"
        async with open_channel(self._address) as channel:
            stub = StackDuckServiceStub(channel)
            await stub.SetLimit(pb.SetLimitRequest(job_type=job_type, concurrency=concurrency))
            peak = 0

            async def watch() -> None:
                nonlocal peak
                while True:
                    reply = await stub.ListLimits(pb.ListLimitsRequest())
                    peak = max([peak, *(lim.running for lim in reply.limits if lim.job_type == job_type)])
                    await asyncio.sleep(0.01)

            watching = asyncio.ensure_future(watch())
            try:
                result.limited_rate = await self.end_to_end(
                    f"end to end (batch), at most {concurrency:,} running",
                    job_type,
                    self._options.jobs,
                    batched=True,
                    name="limited",
                )
            finally:
                watching.cancel()
            await stub.ClearLimit(pb.ClearLimitRequest(job_type=job_type))
        result.limited, result.limited_peak = concurrency, peak

    async def fair_groups(self, result: Result, groups: int) -> None:
        """Workers drain a standing queue of jobs spread over ``groups / 20`` groups, then
        one of as many jobs spread over ``groups``. A claim of ``in_flight`` jobs takes one
        job from each of as many groups either way (while groups outnumber it): only how
        many groups wait differs, so if a claim cost more with more groups waiting, the
        second rate and CPU per job would show it."""
        count = max(self._options.jobs // 2, groups * 2)
        few = max(1, groups // 20)
        for key, spread in (("few", few), ("many", groups)):
            job_type = f"bench-groups-{key}"
            await self._fill(
                job_type, count, f"groups: filling {count:,} jobs over {spread:,} groups", spread
            )
            result.groups_rates[key] = await self._drain(
                f"groups: draining {spread:,} groups", job_type, count, f"groups-{key}"
            )
        result.groups, result.groups_few = groups, few

    async def _stats_ms(self) -> float:
        """How long one QueueStats (what the dashboard and a metrics scrape read) takes."""
        async with open_channel(self._address) as channel:
            stub = StackDuckServiceStub(channel)
            started = time.perf_counter()
            await stub.QueueStats(pb.QueueStatsRequest(), timeout=600)
            return (time.perf_counter() - started) * 1000

    async def _fill(self, job_type: str, count: int, what: str, groups: int = 0) -> None:
        self._progress(what, 0.0)
        o = self._options
        producers = _Producers(self._producer_plans(job_type, count, max(o.batch, 500), groups))
        await producers.start()
        await producers.finish()
        self._progress(what, 1.0)

    async def _drain(self, what: str, job_type: str, count: int, key: str) -> float:
        """Jobs/s through workers taking ``count`` jobs off a standing queue: the queue
        is paused while their streams open, and the clock starts when it resumes."""
        drains = Drains()
        async with open_channel(self._address) as channel:
            stub = StackDuckServiceStub(channel)
            await stub.PauseQueue(pb.PauseQueueRequest(job_type=job_type))
            await self._pause_reached()
            async with _Workers(self._drain_plans(job_type)) as workers:
                await self._turn(stub, job_type, workers, count, what, drains)
            await stub.ResumeQueue(pb.PauseQueueRequest(job_type=job_type))
        self._record(key, drains, workers)
        return drains.rate

    def _drain_plans(self, job_type: str) -> list[WorkerPlan]:
        o = self._options
        return [
            WorkerPlan(
                self._address, job_type, o.in_flight, True, f"bench-drain-{job_type}-{i}", extras=o.extras
            )
            for i in range(o.workers)
        ]

    async def _turn(
        self,
        stub: StackDuckServiceStub,
        job_type: str,
        workers: _Workers,
        target: int,
        what: str,
        drains: Drains,
    ) -> None:
        """Resume ``job_type`` until its workers have done ``target`` jobs in all, then
        pause it again; add to ``drains`` the jobs, seconds, server CPU and machine time
        from the resume until then, and the claims the turn made (its last ones, taken
        as it ended, with them)."""
        claims = await self._claims()
        done = workers.done.value
        started, cpu, machine = time.perf_counter(), self._server_cpu(), MachineTime.now()
        await stub.ResumeQueue(pb.PauseQueueRequest(job_type=job_type))
        await self._until_done(what, workers, target)
        elapsed, cpu, jobs = (
            time.perf_counter() - started,
            self._server_cpu() - cpu,
            workers.done.value - done,
        )
        machine = since(machine)
        await stub.PauseQueue(pb.PauseQueueRequest(job_type=job_type))
        await self._pause_reached()
        later = await self._claims()
        drains.add(jobs, elapsed, cpu, machine, later.minus(claims) if claims and later else None)

    async def _pause_reached(self) -> None:
        """Wait until a pause holds in every server process: another process reads the
        paused set at most once a second, and until then would hand out the queue."""
        if not isinstance(self._server, ThisProcess):
            await asyncio.sleep(PAUSE_CACHE_SECONDS + 0.2)

    async def _claims(self) -> ClaimCounts | None:
        return await self._server.claims() if self._server is not None else None

    def _record(self, key: str, drains: Drains, workers: _Workers) -> None:
        """A drain's figures, under ``key``, with the other scenarios'."""
        self.cpu[key] = (drains.server_cpu_per_job, drains.server_busy)
        self._account(key, drains.jobs, drains.machine, workers.reports, workers.done.value)
        if drains.claims is not None:
            self.claims[key] = drains.claims

    async def fan_out(self, what: str, job_type: str, streams: int) -> tuple[int, float]:
        """Many streams (one job in flight each) on one server, jobs flowing to all of them."""
        o = self._options
        count = streams * 5
        plans = [
            WorkerPlan(self._address, job_type, 1, False, f"bench-fan-{i}", streams=share, extras=o.extras)
            for i, share in enumerate(split(streams, o.workers))
            if share
        ]
        producers = _Producers(self._producer_plans(job_type, count, o.batch))
        async with _Workers(plans) as workers:
            started = await producers.start()
            await self._until_done(what, workers, count)
            elapsed = time.perf_counter() - started
            await producers.finish()
        served = sum(1 for r in workers.reports for n in r["served"].values() if n)
        self._progress(what, 1.0)
        return served, count / elapsed

    async def enqueue(self, what: str, job_type: str, count: int, batch: int) -> float:
        self._progress(what, 0.0)
        producers = _Producers(self._producer_plans(job_type, count, batch))
        await producers.start()
        reports = await producers.finish()
        self._progress(what, 1.0)
        return float(count / (max(r["finished"] for r in reports) - min(r["started"] for r in reports)))

    async def floor(self, what: str, count: int) -> tuple[float, float, float]:
        """What a unary call costs with nothing behind it: calls/s, and CPU µs per call in
        the server (0 against --address) and in the callers."""
        self._progress(what, 0.0)
        o = self._options
        plans = [
            ProducerPlan(self._address, "", share, 0, floor=True)
            for share in split(count, o.producers)
            if share
        ]
        producers = _Producers(plans)
        started = await producers.start()
        cpu = self._server_cpu()
        reports = await producers.finish()
        cpu = self._server_cpu() - cpu
        elapsed = max(r["finished"] for r in reports) - started
        self._progress(what, 1.0)
        server = cpu / count * 1e6 if self._server is not None else 0.0
        return count / elapsed, server, sum(r["cpu"] for r in reports) / count * 1e6

    async def end_to_end(
        self, what: str, job_type: str, count: int, batched: bool, name: str | None = None
    ) -> float:
        o = self._options
        in_flight = o.in_flight if batched else max(o.in_flight // 10, 1)
        plans = [
            WorkerPlan(self._address, job_type, in_flight, batched, f"bench-{job_type}-{i}", extras=o.extras)
            for i in range(o.workers)
        ]
        producers = _Producers(self._producer_plans(job_type, count, o.batch if batched else 0))
        async with _Workers(plans) as workers:
            started = await producers.start()
            cpu, machine = self._server_cpu(), MachineTime.now()
            await self._until_done(what, workers, count)
            elapsed = time.perf_counter() - started
            cpu, machine = self._server_cpu() - cpu, since(machine)
            reports = await producers.finish()
        name = name or ("batch" if batched else "seed")
        self.cpu[name] = (cpu / count * 1e6, cpu / elapsed)
        self._account(name, count, machine, reports + workers.reports)
        self._progress(what, 1.0)
        return count / elapsed

    async def latency(self, what: str, job_type: str) -> dict[str, float]:
        o = self._options
        count = max(int(o.latency_rate * o.latency_seconds), 1)
        plan = WorkerPlan(
            self._address, job_type, o.latency_in_flight, False, f"bench-{job_type}", extras=o.extras
        )
        producers = _Producers(
            [
                ProducerPlan(
                    self._address, job_type, count, o.payload_bytes, rate=o.latency_rate, extras=o.extras
                )
            ]
        )
        async with _Workers([plan]) as workers:
            await producers.start()
            await self._until_done(what, workers, count)
            await producers.finish()
        samples = sorted(s * 1000 for r in workers.reports for s in r["latencies"])
        self._progress(what, 1.0)
        return {
            "p50": percentile(samples, 0.50),
            "p95": percentile(samples, 0.95),
            "p99": percentile(samples, 0.99),
            "mean": statistics.fmean(samples) if samples else 0.0,
        }

    def _producer_plans(self, job_type: str, count: int, batch: int, groups: int = 0) -> list[ProducerPlan]:
        o = self._options
        shares = [share for share in split(count, o.producers) if share]
        return [
            ProducerPlan(
                self._address,
                job_type,
                share,
                o.payload_bytes,
                batch=batch,
                extras=o.extras,
                groups=groups,
                group_offset=sum(shares[:i]),
            )
            for i, share in enumerate(shares)
        ]

    async def _until_done(self, what: str, workers: _Workers, count: int) -> None:
        while workers.done.value < count:
            self._progress(what, workers.done.value / count)
            await asyncio.sleep(0.01)


@dataclass
class _Side:
    """One of the deep-queue scenario's two queues: its type, the jobs filled, its
    workers and its turns' figures."""

    key: str  # the scenario's name in the figures
    job_type: str
    filled: int
    what: str  # for the progress line
    drains: Drains = field(default_factory=Drains)
    workers: _Workers = field(init=False)


class _Producers:
    """Producer processes that connect, then start together with the clock."""

    def __init__(self, plans: list[ProducerPlan]) -> None:
        self._go = MP.Barrier(len(plans) + 1)
        self._outbox = MP.Queue()
        self._processes = [
            MP.Process(target=run_producer, args=(plan, self._go, self._outbox), daemon=True)
            for plan in plans
        ]

    async def start(self) -> float:
        for process in self._processes:
            process.start()
        await asyncio.to_thread(self._go.wait, 60)
        return time.perf_counter()

    async def finish(self) -> list[dict[str, Any]]:
        reports = [await asyncio.to_thread(self._outbox.get, True, 600) for _ in self._processes]
        for process in self._processes:
            await asyncio.to_thread(process.join, 30)
        return reports


class _Workers:
    """Worker processes for the length of an ``async with`` block, streams open before it begins."""

    def __init__(self, plans: list[WorkerPlan]) -> None:
        self._stop = MP.Event()
        self._outbox = MP.Queue()
        self.done = MP.Value("q", 0)
        self._opened = MP.Value("q", 0)
        self.reports: list[dict[str, Any]] = []
        self._processes = [
            MP.Process(
                target=run_worker, args=(plan, self._stop, self.done, self._opened, self._outbox), daemon=True
            )
            for plan in plans
        ]

    async def __aenter__(self) -> _Workers:
        for process in self._processes:
            process.start()
        await self._until_streams_open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        self.reports = [await asyncio.to_thread(self._outbox.get, True, 30) for _ in self._processes]
        for process in self._processes:
            await asyncio.to_thread(process.join, 30)

    async def _until_streams_open(self) -> None:
        """Each worker process says so once the server lists all its streams."""
        for _ in range(3500):
            if self._opened.value == len(self._processes):
                return
            if any(p.exitcode not in (None, 0) for p in self._processes):
                break
            await asyncio.sleep(0.01)
        raise RuntimeError("bench workers did not open their streams within 35 s")
