"""The Python SDK against real servers: in-process (``server``, every storage) or a
``stackduck`` subprocess on a port of its own that a test can stop and start again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stackduck.client import AsyncClient, JobInfo, JobStatus, Worker
from tests.integration.conftest import Running

STACKDUCK = str(Path(sys.executable).parent / "stackduck")
ROOT = Path(__file__).resolve().parents[3]
#: Longest a test waits for something that should happen at once.
PATIENCE = 15.0

#: Run a test module on the in-memory server only (its subject is the client, not storage).
memory_only = pytest.mark.parametrize("storage_settings", ["memory"], indirect=True)


@pytest.fixture
async def client(server: Running) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.address) as client:
        yield client


class Working:
    """A worker running in a task of the test's loop."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.task = asyncio.create_task(worker.run())

    async def until(self, awaitable: Awaitable[Any], seconds: float = PATIENCE) -> Any:
        """Wait for ``awaitable``; fail at once if the worker's run ends first."""
        waiting = asyncio.ensure_future(awaitable)
        either = {waiting, self.task}
        done, _ = await asyncio.wait(either, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        if waiting in done:
            return waiting.result()
        waiting.cancel()
        if self.task in done:
            self.task.result()
            raise AssertionError("the worker stopped by itself")
        raise AssertionError(f"nothing happened within {seconds} s")

    async def stop(self) -> None:
        """Stop as SIGTERM would, and wait until the worker has stopped."""
        self.worker.stop()
        await asyncio.wait_for(self.task, PATIENCE)


async def until_status(client: AsyncClient, job_id: str, status: JobStatus) -> JobInfo:
    """The job once GetJob reports ``status``, asked every 10 ms (a bounded poll, not a
    fixed sleep): any state, terminal or not, read as the assertions after it read it.
    ``client.result`` waits for a job's end without polling."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while (job := await client.get(job_id)).status is not status:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job_id} is {job.status}, never {status}")
        await asyncio.sleep(0.01)
    return job


@contextlib.asynccontextmanager
async def working(worker: Worker) -> AsyncIterator[Working]:
    """Run the worker for the block; leaving it stops the worker gracefully, so every
    job in hand has been answered once the block is over."""
    running = Working(worker)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.stop()
        await running.task


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`stackduck serve` in a subprocess (in-memory storage) on a fixed port."""

    def __init__(self, log_path: Path, **env_vars: str) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        self._log_path = log_path
        self._env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        # HTTP_ADDR: any free port for a side HTTP listener, should the server have one.
        self._env.update(SERVER_ADDR=self.address, HTTP_ADDR="127.0.0.1:0", **env_vars)
        self._env.setdefault("STACKDUCK_SHUTDOWN_GRACE_SECONDS", "5")
        self._env.setdefault("STACKDUCK_STORAGE", "memory")
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        """Start it and wait until it answers a health check (the readiness probe an
        orchestrator would use), with the server's log when it never does."""
        self.spawn()
        async with grpc.aio.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = asyncio.get_running_loop().time() + PATIENCE
            while True:
                try:
                    reply = await health.Check(
                        health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                if asyncio.get_running_loop().time() > deadline or (
                    self.process and self.process.poll() is not None
                ):
                    raise AssertionError(f"the server never answered:\n{self.log()}")
                await asyncio.sleep(0.05)

    def spawn(self) -> None:
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen([STACKDUCK, "serve"], env=self._env, stderr=log, cwd=ROOT)

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        code = await asyncio.to_thread(self.process.wait, PATIENCE)
        self.process = None
        return code

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """A subprocess server (not started yet: ``await server_process.start()``)."""
    served = ServerProcess(tmp_path / "server.log")
    yield served
    served.kill()


class WorkerProcess:
    """`stackduck worker ARGS` in ``cwd``; its log is read line by line as it comes."""

    def __init__(self, *args: str, cwd: Path = ROOT, **env_vars: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("SERVER_ADDR", "GRPC_PORT")}
        env.update(env_vars)
        command = [STACKDUCK, "worker", *args]
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self.stdout = ""

    def _wait_for(self, *words: str) -> None:
        assert self.process.stderr is not None
        pending = set(words)
        while pending:
            line = self.process.stderr.readline()
            if not line:
                raise AssertionError(f"exited without logging {pending}:\n{''.join(self.lines)}")
            self.lines.append(line)
            pending = {word for word in pending if word not in line}

    async def logged(self, *words: str) -> None:
        """Until every word has appeared in some line of the worker's log."""
        await asyncio.wait_for(asyncio.to_thread(self._wait_for, *words), PATIENCE)

    async def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Send the signal; the exit code and the whole log (stdout in ``self.stdout``)."""
        self.process.send_signal(signum)
        self.stdout, rest = await asyncio.to_thread(self.process.communicate, timeout=PATIENCE)
        return self.process.returncode, "".join(self.lines) + rest

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture
def run_worker() -> Iterator[type[WorkerProcess]]:
    started: list[WorkerProcess] = []

    class Tracked(WorkerProcess):
        def __init__(self, *args: str, cwd: Path = ROOT, **env_vars: str) -> None:
            super().__init__(*args, cwd=cwd, **env_vars)
            started.append(self)

    yield Tracked
    for worker in started:
        worker.kill()
