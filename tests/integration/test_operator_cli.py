"""The operator commands against a running server: stackduck enqueue, stats, jobs, dlq, pause, resume."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from tests.integration.conftest import Running, ServerFactory

STACKDUCK = str(Path(sys.executable).parent / "stackduck")
#: The commands that manage schedules and limits run on every storage configuration;
#: the rest, whose subject is the command line, on the in-memory server.
memory_only = pytest.mark.parametrize("storage_settings", ["memory"], indirect=True)


async def cli(server: Running, *args: str, expect: int = 0, token: str | None = None) -> Any:
    extra = ["--token", token] if token else []
    process = await asyncio.create_subprocess_exec(
        STACKDUCK, *args, "--address", server.address, *extra, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == expect, err.decode()
    return json.loads(out) if expect == 0 else err.decode()


@memory_only
async def test_an_operator_repairs_a_queue_from_the_command_line(server: Running) -> None:
    job_id = (await cli(server, "enqueue", "report", '{"month": 11}', "--priority", "1"))["job_id"]
    assert (await server.job(job_id)).payload == '{"month": 11}'

    await cli(server, "pause", "report")
    [stats] = await cli(server, "stats", "report")
    assert stats["paused"] is True and stats["ready"] == [1, 0, 0]
    await cli(server, "resume", "report")

    listed = await cli(server, "jobs", "--type", "report", "--status", "queued")
    assert [j["id"] for j in listed["jobs"]] == [job_id]

    held = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="report", worker_id="w"))
    await server.stub.FailJob(
        pb.FailJobRequest(job_id=job_id, lease_token=held.job.lease_token, no_retry=True)
    )
    dead = await cli(server, "dlq", "list")
    assert [j["id"] for j in dead["jobs"]] == [job_id]
    assert await cli(server, "dlq", "requeue", job_id) == {"requeued": 1}
    assert (await server.job(job_id)).status == "queued"

    message = await cli(server, "dlq", "purge", expect=1)
    assert "exactly one" in message


@memory_only
async def test_enqueue_with_an_idempotency_key_makes_one_job(server: Running) -> None:
    first = await cli(server, "enqueue", "invoice", "--idempotency-key", "order-42", "--timeout", "30")
    again = await cli(server, "enqueue", "invoice", "--idempotency-key", "order-42")

    assert first == again
    stored = await server.job(first["job_id"])
    assert (stored.idempotency_key, stored.timeout_seconds) == ("order-42", 30)
    assert (await server.counts())["queued"] == 1


@memory_only
async def test_the_commands_carry_the_token(start_server: ServerFactory) -> None:
    server: Running = await start_server(STACKDUCK_AUTH_TOKEN="t0ken")
    refused = await cli(server, "stats", expect=1)
    assert "Bearer" in refused
    assert await cli(server, "stats", token="t0ken") == []


@memory_only
async def test_jobs_with_an_id_shows_its_result_metadata_timeout_and_attempts(server: Running) -> None:
    metadata = {"tenant": "acme", "traceparent": "00-ab-cd-01"}
    job_id = await server.enqueue("report", '{"month": 11}', timeout_seconds=90, metadata=metadata)
    first = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="report", worker_id="w-1"))).job
    await server.stub.FailJob(
        pb.FailJobRequest(job_id=job_id, lease_token=first.lease_token, error_message="[db] away", retry_in=0)
    )
    await server.stub.DequeueRetriedJob(pb.DequeueRetriedJobRequest(job=pb.Job(id=job_id)))
    second = (await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="report", worker_id="w-2"))).job
    await server.stub.CompleteJob(
        pb.CompleteJobRequest(job_id=job_id, lease_token=second.lease_token, result='{"rows": [1, 2]}')
    )

    shown = await cli(server, "jobs", "--id", job_id)
    human = await human_cli(server, "jobs", "--id", job_id)

    assert (shown["id"], shown["status"], shown["result"], shown["raw_result"]) == (
        job_id, "completed", {"rows": [1, 2]}, '{"rows": [1, 2]}',
    )  # fmt: skip
    assert shown["metadata"] == {"tenant": "acme", "traceparent": "00-ab-cd-01"}
    assert shown["timeout"] == 90.0
    assert [(a["number"], a["worker_id"], a["outcome"], a["error"]) for a in shown["attempts"]] == [
        (1, "w-1", "failed", "[db] away"),
        (2, "w-2", "completed", None),
    ]
    assert all(a["started_at"] <= a["ended_at"] for a in shown["attempts"])
    for words in ('{"rows": [1, 2]}', "tenant=acme", "traceparent=00-ab-cd-01", "90 s", "attempts"):
        assert words in human, words
    [failed_row] = [line for line in human.splitlines() if "w-1" in line]
    assert "failed" in failed_row and "[db] away" in failed_row  # brackets shown, not read as markup
    assert "completed" in next(line for line in human.splitlines() if "w-2" in line)

    missing = await cli(server, "jobs", "--id", "no-such-job", expect=1)
    assert "no job with id 'no-such-job'" in missing


async def human_cli(server: Running, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        STACKDUCK, *args, "--address", server.address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_an_operator_manages_schedules_from_the_command_line(server: Running) -> None:
    added = await cli(
        server, "schedules", "add", "nightly", "report", '{"month": 11}', "--cron", "30 2 * * *",
        "--timezone", "Europe/Berlin", "--no-catch-up", "--priority", "1",
    )  # fmt: skip
    assert (added["name"], added["cron"], added["timezone"], added["catch_up"]) == (
        "nightly", "30 2 * * *", "Europe/Berlin", False,
    )  # fmt: skip
    assert added["group"] is None
    often = await cli(server, "schedules", "add", "often", "ping", "--every", "3600", "--group", "acme")
    assert often["group"] == "acme"

    listed = await cli(server, "schedules", "list")
    assert [(s["name"], s["every"], s["paused"], s["group"]) for s in listed] == [
        ("nightly", None, False, None),
        ("often", 3600, False, "acme"),
    ]
    assert listed[0]["next_run"] is not None and listed[0]["payload"] == {"month": 11}
    shown = await cli(server, "schedules", "show", "often")
    stable = ("name", "job_type", "every", "group", "payload", "paused", "created_at")  # not a tick's times
    assert {k: shown[k] for k in stable} == {k: listed[1][k] for k in stable}

    paused = await cli(server, "schedules", "pause", "often")
    assert (paused["paused"], paused["next_run"]) == (True, None)
    assert (await cli(server, "schedules", "resume", "often"))["paused"] is False
    assert await cli(server, "schedules", "remove", "often") == {"removed": "often"}
    assert [s["name"] for s in await cli(server, "schedules", "list")] == ["nightly"]

    missing = await cli(server, "schedules", "remove", "often", expect=1)
    assert "no schedule named 'often'" in missing
    bad = await cli(server, "schedules", "add", "x", "t", "--cron", "61 * * * *", expect=1)
    assert "bad minute" in bad


@memory_only
async def test_the_schedules_table_shows_rule_and_runs(server: Running) -> None:
    # Ticks a day apart: none fires while the test runs, so its last run is "never".
    await cli(server, "schedules", "add", "daily", "ping", "--every", "86400")
    process = await asyncio.create_subprocess_exec(
        STACKDUCK, "schedules", "list", "--address", server.address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()

    assert process.returncode == 0, err.decode()
    assert "every 86400 s" in out.decode() and "never" in out.decode()


async def test_an_operator_limits_a_job_type_from_the_command_line(server: Running) -> None:
    made = await cli(server, "limit", "mail", "--concurrency", "3")
    assert (made["job_type"], made["concurrency"], made["rate"], made["running"]) == ("mail", 3, None, 0)
    rated = await cli(server, "limit", "api", "--rate", "10", "--per", "60", "--burst", "2")
    assert (rated["concurrency"], rated["rate"], rated["per"], rated["burst"], rated["tokens"]) == (
        None, 10.0, 60.0, 2, 2.0,
    )  # fmt: skip
    assert [(i["job_type"], i["concurrency"]) for i in await cli(server, "limits")] == [
        ("api", None),
        ("mail", 3),
    ]

    replaced = await cli(server, "limit", "mail", "--rate", "5")  # the whole limit: no concurrency now
    assert (replaced["concurrency"], replaced["rate"], replaced["per"]) == (None, 5.0, 1.0)
    assert await cli(server, "limit", "mail", "--clear") == {"job_type": "mail", "cleared": True}
    assert await cli(server, "limit", "mail", "--clear") == {"job_type": "mail", "cleared": False}
    assert [i["job_type"] for i in await cli(server, "limits")] == ["api"]


async def test_an_operator_caps_each_group_and_enqueues_into_one(server: Running) -> None:
    made = await cli(server, "limit", "render", "--group-concurrency", "1")
    assert (made["group_concurrency"], made["concurrency"]) == (1, None)
    big = [(await cli(server, "enqueue", "render", "--group", "big"))["job_id"] for _ in range(2)]
    small = (await cli(server, "enqueue", "render", "--group", "small"))["job_id"]
    assert (await server.job(small)).group == "small"

    first = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="render", worker_id="w"))
    second = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="render", worker_id="w"))
    third = await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="render", worker_id="w"))
    # One of each group: the cap holds big's second job back while its first runs.
    assert sorted([first.job.id, second.job.id]) == sorted([big[0], small])
    assert not third.success


#: Bad input to `stackduck limit mail`: the exit code, and words of what it says to fix.
BAD_LIMITS: list[tuple[tuple[str, ...], int, str]] = [
    ((), 1, "give --concurrency N, --group-concurrency M, --rate R, or several"),
    (("--group-concurrency", "0"), 1, "group_concurrency must be a whole number, at least 1"),
    (("--clear", "--rate", "5"), 1, "give it alone, without --rate"),
    (("--concurrency", "1", "--burst", "3"), 1, "give --rate with them"),
    (("--concurrency", "1", "--per", "60"), 1, "give --rate with them"),
    (("--concurrency", "0"), 1, "concurrency must be a whole number, at least 1"),
    (("--concurrency", "2000000"), 1, "concurrency must be 1 to 1,000,000"),
    (("--rate", "5", "--per", "100000"), 1, "per must be 0.001 to 86,400 seconds"),
    (("--concurrency", "two"), 2, "invalid int value: 'two'"),
]


@memory_only
async def test_a_bad_limit_command_says_what_to_fix_and_changes_nothing(server: Running) -> None:
    await cli(server, "limit", "mail", "--concurrency", "7")

    said = await asyncio.gather(
        *(cli(server, "limit", "mail", *args, expect=code) for args, code, _ in BAD_LIMITS)
    )

    for (args, _, words), message in zip(BAD_LIMITS, said, strict=True):
        assert words in message, (args, message)
    [kept] = await cli(server, "limits")
    assert (kept["job_type"], kept["concurrency"], kept["rate"]) == ("mail", 7, None)


@memory_only
async def test_the_limits_table_shows_running_jobs_against_the_limit(server: Running) -> None:
    await cli(server, "limit", "mail", "--concurrency", "2", "--rate", "10", "--per", "3600")
    await cli(server, "limit", "api", "--concurrency", "5")
    for _ in range(3):
        await server.enqueue("mail")
    for _ in range(3):
        await server.stub.DequeueJob(pb.DequeueJobRequest(queue_name="mail", worker_id="w"))

    table = await human_cli(server, "limits")

    [api] = [line for line in table.splitlines() if "api" in line]
    [mail] = [line for line in table.splitlines() if "mail" in line]
    assert "0 / 5" in api
    assert "2 / 2" in mail and "10 per 3600 s" in mail and "8.0" in mail  # the third was held
    set_again = await human_cli(server, "limit", "api", "--rate", "3")
    assert "0 / none" in set_again and "3 per 1 s" in set_again
