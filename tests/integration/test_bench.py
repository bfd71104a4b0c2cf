"""`stackduck bench` with tiny numbers, so it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from stackduck.entrypoints.bench.soak import JOB_TYPE, Soak, SoakOptions, SoakResult
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running

STACKDUCK = str(Path(sys.executable).parent / "stackduck")


@pytest.mark.slow
def test_bench_measures_every_scenario_and_prints_json() -> None:
    command = [
        STACKDUCK, "bench", "--configs", "memory", "--jobs", "300", "--seed-jobs", "100",
        "--latency-rate", "100", "--latency-seconds", "0.5", "--producers", "1", "--workers", "2",
        "--streams", "20", "--backlog", "500", "--limited", "7", "--groups", "50", "--quiet-wait", "2",
        "--json",
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False
    )

    assert result.returncode == 0, result.stderr
    [memory] = json.loads(result.stdout)
    assert memory["config"] == "memory" and not memory["skipped"]
    for rate in ("enqueue_unary", "enqueue_batch", "end_to_end_batch", "end_to_end_seed"):
        assert memory[rate] > 0, rate
    assert 0 < memory["latency_ms"]["p50"] <= memory["latency_ms"]["p99"]
    # The seed path's floor: the same loads against a server doing nothing, in this run.
    assert memory["seed_floor"] > 0
    assert 0 < memory["latency_floor_ms"]["p50"] <= memory["latency_floor_ms"]["p99"]
    assert (memory["streams"], memory["streams_served"]) == (20, 20) and memory["streams_rate"] > 0
    assert memory["backlog"] == 500 and memory["backlog_fill"] > 0
    assert memory["backlog_rates"]["10"] > 0 and memory["backlog_rates"]["backlog"] > 0
    assert set(memory["backlog_rss_mb"]) == {"before", "filled", "after"}
    assert memory["backlog_stats_ms"] > 0
    assert memory["backlog_drained"] == 500  # every waiting job, fewer than the least drain
    rates = memory["backlog_rates"]
    assert memory["backlog_ratios"]["rate"] == pytest.approx(rates["backlog"] / rates["10"])
    assert memory["backlog_ratios"]["server_cpu"] > 0
    # Up to three turns each, short and deep: a turn whose queue the last claims of the
    # one before emptied is not taken.
    assert 2 <= len(memory["backlog_settled"]) <= 6 and all(0 <= w <= 5 for w in memory["backlog_settled"])
    assert 0 <= memory["settled"] <= 5
    # The server's claims in each drain, from its Prometheus counters.
    for drain in ("backlog-10", "backlog"):
        claims = memory["backlog_claims"][drain]
        assert claims["leased"] >= 500 and claims["asked"] >= claims["leased"] and claims["claims"] >= 1
    assert {
        "batch",
        "seed",
        "floor-seed",
        "backlog-10",
        "backlog",
        "limited",
        "groups-few",
        "groups-many",
    } <= set(memory["server_cpu_us"])
    assert memory["limited"] == 7 and memory["limited_rate"] > 0
    assert 0 < memory["limited_peak"] <= 7
    assert (memory["groups"], memory["groups_few"]) == (50, 2)
    assert set(memory["groups_rates"]) == {"few", "many"}
    assert all(rate > 0 for rate in memory["groups_rates"].values())
    # Whole-machine accounting: the load's own CPU, and the machine's (Linux /proc/stat).
    assert {"batch", "seed", "backlog-10", "backlog"} <= set(memory["load_cpu_us"])
    assert all(v > 0 for v in memory["load_cpu_us"].values())
    if Path("/proc/stat").exists():
        assert set(memory["machine_cpu_us"]) == set(memory["load_cpu_us"])
        # /proc/stat counts in ticks (10 ms): a tiny scenario may see none go by.
        assert all(0 <= share <= 1 for share in memory["machine_busy"].values())
        assert sum(memory["machine_cpu_us"].values()) > 0
    # The gRPC floor: empty unary calls, CPU per call on both sides.
    assert memory["floor_rate"] > 0 and memory["floor_server_us"] > 0 and memory["floor_client_us"] > 0


@pytest.mark.slow
def test_bench_with_extras_carries_metadata_timeouts_and_results() -> None:
    """Jobs that carry metadata and a timeout and complete with a result still all
    arrive: a refused field would leave the scenarios short of their jobs."""
    command = [
        STACKDUCK, "bench", "--configs", "memory", "--jobs", "200", "--seed-jobs", "60",
        "--latency-rate", "100", "--latency-seconds", "0.3", "--streams", "0", "--extras",
        "--quiet-wait", "0", "--json",
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False
    )

    assert result.returncode == 0, result.stderr
    [memory] = json.loads(result.stdout)
    for rate in ("enqueue_unary", "enqueue_batch", "end_to_end_batch", "end_to_end_seed"):
        assert memory[rate] > 0, rate


def test_bench_refuses_an_unknown_configuration() -> None:
    result = subprocess.run(
        [STACKDUCK, "bench", "--configs", "floppy"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "unknown configuration" in result.stderr


@pytest.mark.slow
def test_bench_serves_from_several_processes(postgres_server: str) -> None:
    command = [
        STACKDUCK, "bench", "--configs", "memory,postgres", "--quiet-wait", "0",
        "--server-processes", "2", "--database-url", postgres_server, "--jobs", "300", "--seed-jobs", "60",
        "--latency-rate", "100", "--latency-seconds", "0.3", "--producers", "2", "--workers", "2",
        "--streams", "6", "--backlog", "200", "--json",
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False
    )

    assert result.returncode == 0, result.stderr
    memory, postgres = json.loads(result.stdout)
    assert "one process" in memory["skipped"]
    assert not postgres["skipped"] and postgres["end_to_end_batch"] > 0 and postgres["end_to_end_seed"] > 0
    assert (postgres["streams"], postgres["streams_served"]) == (6, 6)
    # The server's CPU and memory are read from its processes (supervisor and servers).
    assert postgres["server_cpu_us"]["batch"] > 0 and postgres["floor_server_us"] > 0
    assert postgres["backlog_rss_mb"]["filled"] > 100  # two servers and a supervisor, not one
    # Claims from the /metrics page, every process's counters merged.
    assert postgres["backlog_claims"]["backlog"]["leased"] >= 200


@pytest.mark.slow
def test_bench_soak_accounts_for_every_job_and_the_servers_memory(
    postgres_server: str, redis_server: str
) -> None:
    seconds, rate = 3, 100
    command = [
        STACKDUCK, "bench", "--configs", "memory,redis+postgres", "--database-url", postgres_server,
        "--redis-url", redis_server, "--soak", str(seconds), "--rate", str(rate), "--fail-share", "0.2",
        "--drain-seconds", "20", "--producers", "1", "--workers", "2", "--json",
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=180, env=os.environ.copy(), check=False
    )

    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [r["config"] for r in reports] == ["memory", "redis+postgres"]
    for r in reports:
        assert not r["skipped"], r
        assert r["enqueued"] + r["enqueue_errors"] == seconds * rate and r["enqueue_errors"] == 0
        # Every acknowledged job is accounted for once; none lost, all done after the drain.
        assert r["completed"] + r["pending"] + r["dead"] + r["lost"] == r["enqueued"]
        assert (r["lost"], r["lost_ids"], r["pending"], r["dead"]) == (0, [], 0, 0)
        assert r["completed"] == r["enqueued"]
        # A fifth of first attempts failed and came back through a retry (each at most once).
        assert 0.1 * r["enqueued"] < r["failed_on_purpose"] < 0.3 * r["enqueued"]
        assert r["answer_errors"] == 0
        assert 0.9 * seconds <= r["seconds"] < seconds + 5 and r["drained_seconds"] < 20
        # The server's memory, read from its process: after the warm-up and at the end.
        rss = r["rss_mb"]
        assert set(rss) == {"start", "warm", "end", "drained"} and all(v > 10 for v in rss.values())
        assert r["rss_growth_pct"] == pytest.approx((rss["end"] - rss["warm"]) / rss["warm"] * 100)
        assert r["server_cpu_us"] > 0


async def test_the_soak_tells_completed_pending_dead_and_lost_jobs_apart(server: Running) -> None:
    """The account at the end of a soak asks the server about every job whose worker
    was not told it completed: completed all the same, pending, dead, or lost."""
    answer_lost, dead, completed, waiting = [await server.enqueue(JOB_TYPE) for _ in range(4)]
    unknown = "01a24c55-0000-7000-8000-000000000000"
    for job_id, fail in ((answer_lost, False), (dead, True), (completed, False)):
        reply = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name=JOB_TYPE, worker_id="w"))
        assert reply.job.id == job_id
        if fail:
            await server.stub.FailJob(pb.FailJobRequest(job_id=job_id, lease_token=1, no_retry=True))
        else:
            await server.stub.CompleteJob(pb.CompleteJobRequest(job_id=job_id, lease_token=1))
    result = SoakResult("test")

    soak = Soak(server.address, SoakOptions(seconds=1), None, Console(stderr=True))
    await soak._account(result, [answer_lost, dead, waiting, completed, unknown], {completed})

    assert (result.enqueued, result.completed, result.pending, result.dead, result.lost) == (5, 2, 1, 1, 1)
    assert result.lost_ids == [unknown]
