"""Durability on SQLite, with real `stackduck` processes: a server killed with SIGKILL
loses no job it acknowledged, and a second server refuses a data directory in use."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from tests.integration.test_durability import (
    RPC_TIMEOUT,
    STACKDUCK,
    Ledger,
    ServerProcess,
    enqueue_request,
    free_port,
    stop_tasks,
    work,
)

pytestmark = pytest.mark.slow


def rows(data: Path) -> dict[str, tuple[str, int]]:
    """Every job in the file, read directly: id → (status, attempt)."""
    with sqlite3.connect(data / "stackduck.db") as conn:
        return {i: (s, a) for i, s, a in conn.execute("SELECT id, status, attempt FROM stackduck_jobs")}


@dataclass
class DataDir:
    path: Path
    spawn: Callable[..., ServerProcess]  # a server on it, with these settings on top


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[DataDir]:
    """Start `stackduck serve` on SQLite in this test's data directory; stopped at the end."""
    data = tmp_path / "stackduck-data"
    started: list[ServerProcess] = []
    numbers = itertools.count(1)

    def spawn(**env_vars: str) -> ServerProcess:
        name = f"server-{next(numbers)}"
        address = f"127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            SERVER_ADDR=address, HTTP_ADDR=f"127.0.0.1:{free_port()}", STACKDUCK_STORAGE="sqlite",
            STACKDUCK_DATA_DIR=str(data), STACKDUCK_SHUTDOWN_GRACE_SECONDS="1", **env_vars,
        )  # fmt: skip
        log_path = tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [STACKDUCK, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        served = ServerProcess(name, process, address, log_path)
        started.append(served)
        return served

    yield DataDir(data, spawn)
    for served in started:
        if served.process.poll() is None:
            served.process.terminate()
        try:
            await asyncio.to_thread(served.process.wait, 10)
        except subprocess.TimeoutExpired:
            served.process.kill()


async def test_kill_9_loses_no_acknowledged_job(serve: DataDir) -> None:
    data, spawn = serve.path, serve.spawn
    first = spawn(STACKDUCK_LEASE_SECONDS="2")
    await first.ready()
    acknowledged: list[str] = []
    refused: list[grpc.StatusCode] = []
    before = Ledger()
    numbers = itertools.count()

    async with grpc.aio.insecure_channel(first.address) as channel:
        stub = StackDuckServiceStub(channel)

        async def produce() -> None:
            while True:
                try:
                    reply = await stub.EnqueueJob(enqueue_request(next(numbers)), timeout=RPC_TIMEOUT)
                except grpc.aio.AioRpcError as exc:
                    refused.append(exc.code())  # not acknowledged: may or may not be stored
                    return
                acknowledged.append(reply.job_id)

        producers = [asyncio.create_task(produce()) for _ in range(2)]
        workers = [asyncio.create_task(work(stub, f"before-{i}", before, pause=0.01)) for i in range(3)]
        await asyncio.sleep(1.5)
        await first.kill_9()
        _, pending = await asyncio.wait([*producers, *workers], timeout=RPC_TIMEOUT + 5)
        await stop_tasks(list(pending))
        assert not pending, "producers or workers still running 15 s after the kill"

    assert acknowledged and before.completed and refused
    stored = rows(data)
    assert [i for i in acknowledged if i not in stored] == [], "acknowledged jobs lost by kill -9"
    assert [i for i in before.completed if stored[i][0] != "completed"] == []

    second = spawn(STACKDUCK_LEASE_SECONDS="2")
    await second.ready()
    after = Ledger()
    async with grpc.aio.insecure_channel(second.address) as channel:
        stub = StackDuckServiceStub(channel)
        workers = [asyncio.create_task(work(stub, f"after-{i}", after)) for i in range(3)]
        try:
            deadline = time.monotonic() + 60
            while any(status != "completed" for status, _ in rows(data).values()):
                assert time.monotonic() < deadline, (
                    f"not all completed after the restart:\n{second.log()[-3000:]}"
                )
                await asyncio.sleep(0.2)
        finally:
            await stop_tasks(workers)

    stored = rows(data)
    assert [i for i in acknowledged if stored[i][0] != "completed"] == []
    assert set(before.completed) & set(after.deliveries) == set()  # never handed out again
    assert before.overlaps == [] and after.overlaps == []


async def test_a_second_server_on_a_data_directory_in_use_refuses_to_start(
    serve: tuple[Path, object],
) -> None:
    data, spawn = serve.path, serve.spawn
    first = spawn()  # type: ignore[operator]
    await first.ready()

    second = spawn()
    code = await asyncio.to_thread(second.process.wait, 30)

    assert code != 0
    assert f"the data directory {data} is in use by another Stackduck server" in second.log()
    assert first.process.poll() is None  # the first one serves on
