"""``stackduck serve --processes N``: several server processes on one port, as real processes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from tests.conftest import storage_env
from tests.integration.conftest import Served

pytestmark = pytest.mark.slow

SHARED = ["postgres", "redis", "redis+postgres"]


def children(pid: int) -> set[int]:
    """The processes ``pid`` started (Linux)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def new_channel(address: str) -> grpc.aio.Channel:
    """A channel on a connection of its own (the kernel picks a server per connection)."""
    return grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def scrape(http: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://{http}/metrics", timeout=10).read().decode()
    return {name: float(value) for name, value in re.findall(r"^(\S+) (\S+)$", text, re.MULTILINE)}


async def start(serve: Callable[..., Served], env: dict[str, str], processes: int = 2) -> tuple[Served, str]:
    """The supervisor, and the HTTP address; both ports asked as 0, so the supervisor
    fixes them (``served.address`` is the gRPC one it logs)."""
    served = serve(
        "serve", "--processes", str(processes), SERVER_ADDR="127.0.0.1:0", HTTP_ADDR="127.0.0.1:0", **env
    )
    line = await asyncio.to_thread(served.wait_for_line, f"in {processes} processes")
    served.address = _address("serving on", line)
    http = _address("dashboard on http://", await asyncio.to_thread(served.wait_for_line, "dashboard on"))
    return served, http


async def stops_cleanly(served: Served, signum: int) -> None:
    """``signum`` to the supervisor: it exits 0, and every server with it."""
    servers = children(served.process.pid)
    served.process.send_signal(signum)
    assert await served.exit_code() == 0
    assert not any(map(alive, servers))


def _address(after: str, line: str) -> str:
    found = re.search(re.escape(after) + r" ?(127\.0\.0\.1:\d+)", line)
    assert found and not found.group(1).endswith(":0"), line
    return found.group(1)


async def test_memory_storage_refuses_several_processes(serve: Callable[..., Served]) -> None:
    served = serve("serve", "--processes", "2", STACKDUCK_STORAGE="memory")
    assert await served.exit_code() == 2
    message = served.log()
    assert "need shared storage" in message and "DATABASE_URL" in message


@pytest.mark.parametrize("storage", SHARED)
async def test_processes_share_the_port_the_jobs_and_the_metrics(
    serve: Callable[..., Served], request: pytest.FixtureRequest, storage: str
) -> None:
    served, http = await start(serve, storage_env(request, storage))
    assert len(children(served.process.pid)) == 2

    # Twenty producers' connections, spread by the kernel over both processes; one
    # worker's stream on one of them is handed every job exactly once.
    async def enqueue(i: int) -> str:
        async with new_channel(served.address) as channel:
            reply = await StackDuckServiceStub(channel).EnqueueJob(
                pb.EnqueueJobRequest(job_type="spread", payload=f'{{"i": {i}}}')
            )
            return str(reply.job_id)

    ids = set(await asyncio.gather(*(enqueue(i) for i in range(20))))
    async with new_channel(served.address) as channel:
        stub = StackDuckServiceStub(channel)
        stream = stub.ConsumeJobs(
            pb.ConsumeJobsRequest(worker_id="w", job_types=["spread"], max_in_flight=50)
        )
        delivered: list[pb.Job] = []
        while len(delivered) < len(ids):
            message = await asyncio.wait_for(stream.read(), 10)
            delivered.extend(message.jobs or [message.job])
        assert sorted(job.id for job in delivered) == sorted(ids)
        for job in delivered:
            done = await stub.CompleteJob(pb.CompleteJobRequest(job_id=job.id, lease_token=job.lease_token))
            assert done.success
        # Whichever process answers /metrics counts what every process did.
        for _ in range(4):
            metrics = await asyncio.to_thread(scrape, http)
            assert metrics['stackduck_jobs_enqueued_total{job_type="spread"}'] == 20
            assert metrics['stackduck_jobs_completed_total{job_type="spread"}'] == 20
            assert metrics["stackduck_workers_connected"] == 1
        stream.cancel()

    await stops_cleanly(served, signal.SIGTERM)


async def test_ctrl_c_reaches_the_supervisor_which_stops_every_server(
    serve: Callable[..., Served], request: pytest.FixtureRequest
) -> None:
    served, _ = await start(serve, storage_env(request, "postgres"))
    servers = children(served.process.pid)
    # Each server runs in a session of its own: a terminal's Ctrl-C (SIGINT to the
    # foreground process group) reaches the supervisor, which passes it on.
    assert all(os.getsid(pid) == pid for pid in servers)
    await stops_cleanly(served, signal.SIGINT)


async def test_a_server_process_that_dies_is_replaced(
    serve: Callable[..., Served], request: pytest.FixtureRequest
) -> None:
    served, _ = await start(serve, storage_env(request, "postgres"))
    first = children(served.process.pid)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    line = await asyncio.to_thread(served.wait_for_line, "starting another")
    assert f"pid {victim}" in line and "code -9" in line
    await asyncio.to_thread(served.wait_for_line, "serving on")  # the new one
    now = children(served.process.pid)
    assert len(now) == 2 and victim not in now
    async with new_channel(served.address) as channel:
        reply = await StackDuckServiceStub(channel).EnqueueJob(
            pb.EnqueueJobRequest(job_type="t", payload="{}")
        )
        assert reply.success
    served.process.send_signal(signal.SIGTERM)
    assert await served.exit_code() == 0


async def test_servers_stop_when_their_supervisor_is_killed(
    serve: Callable[..., Served], request: pytest.FixtureRequest
) -> None:
    served, _ = await start(serve, storage_env(request, "postgres"))
    servers = children(served.process.pid)
    served.process.kill()
    served.process.wait()

    def all_gone() -> None:
        deadline = time.monotonic() + 20
        while any(map(alive, servers)):
            assert time.monotonic() < deadline, "server processes outlived their supervisor"
            time.sleep(0.05)

    await asyncio.to_thread(all_gone)


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


async def test_a_second_lone_server_on_a_taken_port_fails_to_start(serve: Callable[..., Served]) -> None:
    first = serve("serve")
    await first.started()

    second = serve("serve", SERVER_ADDR=first.address)

    assert await second.exit_code() == 1
    assert second.process.stderr is not None
    log = second.process.stderr.read()
    assert f"cannot start: cannot listen on {first.address}: the port is in use" in log, log
    assert "Traceback" not in log
    async with new_channel(first.address) as channel:  # the first one serves on, alone
        reply = await StackDuckServiceStub(channel).EnqueueJob(
            pb.EnqueueJobRequest(job_type="t", payload="{}")
        )
        assert reply.success
    first.process.send_signal(signal.SIGTERM)
    assert await first.exit_code() == 0


async def test_a_lone_server_cannot_join_a_port_several_processes_share(
    serve: Callable[..., Served], request: pytest.FixtureRequest
) -> None:
    group, _ = await start(serve, storage_env(request, "postgres"))

    lone = serve("serve", SERVER_ADDR=group.address)

    assert await lone.exit_code() == 1
    assert lone.process.stderr is not None
    assert "the port is in use" in lone.process.stderr.read()
    await stops_cleanly(group, signal.SIGTERM)


async def test_a_server_that_cannot_start_stops_the_others_and_exits_one(
    serve: Callable[..., Served], request: pytest.FixtureRequest
) -> None:
    with socket.socket() as taken:  # a listener of someone else's, without SO_REUSEPORT
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http = f"127.0.0.1:{taken.getsockname()[1]}"
        served = serve("serve", "--processes", "2", HTTP_ADDR=http, **storage_env(request, "postgres"))
        line = await asyncio.to_thread(served.wait_for_line, "before it served")
        assert "cannot start" in line
        assert await served.exit_code() == 1
