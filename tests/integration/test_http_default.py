"""HTTP_ADDR not set: the default HTTP address is a convenience. When it is taken (a
second server on the host, started the seed's way with only SERVER_ADDR), the server
serves gRPC without HTTP and says how to get it back; a set HTTP_ADDR that is taken
still stops the start. Real processes; the default address is one the test holds."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import urllib.request
from collections.abc import Callable, Iterator

import grpc
import pytest

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub
from tests.integration.conftest import Served, free_port

#: ``stackduck ARGS`` with the default HTTP address moved to argv[1], so that the test
#: decides whether the default is taken (the real 8080 may be anyone's on a shared host).
WITH_DEFAULT = (
    "import sys\n"
    "from stackduck import settings\n"
    "from stackduck.entrypoints.cli.main import main\n"
    "settings.DEFAULT_HTTP_ADDR = sys.argv[1]\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


@pytest.fixture
def default_http() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def taken(default_http: str) -> Iterator[socket.socket]:
    """Another program listening on the default HTTP address."""
    host, _, port = default_http.rpartition(":")
    with socket.socket() as sock:
        sock.bind((host, int(port)))
        sock.listen()
        yield sock


def start(serve: Callable[..., Served], default_http: str, *args: str, **env: str | None) -> Served:
    program = (sys.executable, "-c", WITH_DEFAULT, default_http)
    return serve("serve", *args, program=program, **{"HTTP_ADDR": None, **env})


def healthz(address: str) -> int:
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=10) as response:
        return int(response.status)


async def enqueues(address: str) -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await StackDuckServiceStub(channel).EnqueueJob(
            pb.EnqueueJobRequest(job_type="t", payload="{}"), timeout=10
        )
    return bool(reply.success)


async def stop(served: Served) -> str:
    served.process.send_signal(signal.SIGTERM)
    assert await served.exit_code() == 0
    return served.log()


async def test_a_taken_default_leaves_http_off_with_a_warning(
    serve: Callable[..., Served], default_http: str, taken: socket.socket
) -> None:
    served = start(serve, default_http)
    await served.started()
    assert await enqueues(served.address)
    log = await stop(served)
    [warning] = [line for line in log.splitlines() if "HTTP is off" in line]
    assert " WARNING " in warning and default_http in warning and "set HTTP_ADDR" in warning
    assert "dashboard on" not in log


async def test_two_servers_given_only_server_addr_both_serve(
    serve: Callable[..., Served], default_http: str
) -> None:
    first = start(serve, default_http)
    await first.started()
    second = start(serve, default_http)
    await second.started()

    assert await asyncio.to_thread(healthz, default_http) == 200  # the first one's
    assert await enqueues(first.address) and await enqueues(second.address)
    first_log, second_log = await stop(first), await stop(second)
    assert f"dashboard on http://{default_http}" in first_log and "HTTP is off" not in first_log
    assert f"HTTP is off: {default_http}" in second_log


async def test_a_set_http_addr_that_is_taken_still_stops_the_start(
    serve: Callable[..., Served], default_http: str, taken: socket.socket
) -> None:
    served = start(serve, default_http, HTTP_ADDR=default_http)  # the default, but asked for
    assert await served.exit_code() == 1
    log = served.log()
    assert f"cannot start the HTTP server on {default_http}" in log and "Traceback" not in log


@pytest.mark.slow
async def test_several_processes_serve_without_http_when_the_default_is_taken(
    serve: Callable[..., Served], default_http: str, taken: socket.socket, postgres: str
) -> None:
    served = start(serve, default_http, "--processes", "2", SERVER_ADDR="127.0.0.1:0", DATABASE_URL=postgres)
    line = await asyncio.to_thread(served.wait_for_line, "in 2 processes")
    address = line.split("serving on ")[1].split()[0]
    assert await enqueues(address)
    log = await stop(served)
    assert log.count("HTTP is off") == 1 and "dashboard on" not in log  # the supervisor says it, once


@pytest.mark.slow
async def test_several_processes_share_a_free_default(
    serve: Callable[..., Served], default_http: str, postgres: str
) -> None:
    served = start(serve, default_http, "--processes", "2", SERVER_ADDR="127.0.0.1:0", DATABASE_URL=postgres)
    await asyncio.to_thread(served.wait_for_line, "in 2 processes")
    assert f"on http://{default_http} " in await asyncio.to_thread(served.wait_for_line, "dashboard on")
    assert await asyncio.to_thread(healthz, default_http) == 200
    assert "HTTP is off" not in await stop(served)
