"""``stackduck serve --processes N``: N server processes on one gRPC port and one HTTP port.

Each process is a whole server — its own pools, streams and wake-up listener — as
several instances on one storage already are; the kernel spreads new connections
across the processes that bound the port with SO_REUSEPORT (ADR 0016). This process
only supervises: it fixes the ports (a port 0 becomes one every server can bind; HTTP
is left off when HTTP_ADDR is not set and the default address is taken),
starts the servers and waits until each says it serves, starts another when one dies,
passes SIGTERM and SIGINT on, and gives prometheus-client a directory in which the
servers' counters meet, so any server's ``/metrics`` shows them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import glob
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator

from prometheus_client.multiprocess import mark_process_dead

from stackduck import __version__
from stackduck.adapters.prometheus import METRICS_DIR
from stackduck.settings import Settings

log = logging.getLogger("stackduck")

#: What a supervised server prints on its standard output once it serves.
READY = b"ready\n"
#: Logged (with the address) when HTTP_ADDR was not set and the default address is taken.
HTTP_OFF = (
    "HTTP is off: %s, the default HTTP address, is taken (another server on this host?), so "
    "metrics, /healthz and the dashboard are not served; set HTTP_ADDR to a free host:port "
    "(port 0 picks one) to serve them"
)
#: Restarting a server that died waits this long at first, doubling to the cap while
#: the new one cannot start (storage down, say); the others keep serving meanwhile.
RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
#: A server that ran this long before it died resets the wait (not a crash loop).
LIVED_SECONDS = 60.0
#: How long past the shutdown grace the servers get before they are killed (they hand
#: cancelled streams' jobs back and close storage after the grace).
STOP_MARGIN = 15.0


class StartFailed(Exception):
    def __init__(self, index: int, code: int) -> None:
        super().__init__(f"server process {index} exited with code {code} before it served")
        self.code = code


def supervise(settings: Settings) -> int:
    return asyncio.run(_supervise(settings))


async def _supervise(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.ExitStack() as stack:
        http_address: str | None = None  # HTTP off
        try:
            grpc_address = stack.enter_context(reserved(settings.listen_address))
            if settings.http_optional and taken(settings.http_address):
                log.warning(HTTP_OFF, settings.http_address)
            else:
                http_address = stack.enter_context(reserved(settings.http_address))
        except (OSError, ValueError) as exc:
            log.error("cannot start: %s", exc)
            return 1
        metrics_dir = stack.enter_context(_metrics_dir())
        env = {**os.environ, "SERVER_ADDR": grpc_address, METRICS_DIR: metrics_dir}
        if http_address is not None:
            env["HTTP_ADDR"] = http_address
        group = ServerGroup(settings.processes, env, metrics_dir, http=http_address is not None)
        starting = asyncio.create_task(group.start())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([starting, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await group.stop(settings.shutdown_grace_seconds)
            return 0
        stopped.cancel()
        if (failure := starting.exception()) is not None:
            log.error("cannot start: %s", failure)
            await group.stop(settings.shutdown_grace_seconds)
            return 1
        log.info(
            "stackduck %s serving on %s with %s storage in %d processes",
            __version__,
            grpc_address,
            settings.storage,
            settings.processes,
        )
        if http_address is not None:
            scheme = "https" if settings.tls_cert else "http"
            log.info(
                "metrics, health and the dashboard on %s://%s (any process answers)", scheme, http_address
            )
        keepers = [asyncio.create_task(group.keep(i)) for i in range(settings.processes)]
        await stop.wait()
        log.info("stopping %d server processes", settings.processes)
        for keeper in keepers:
            keeper.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        clean = await group.stop(settings.shutdown_grace_seconds)
        log.info("stopped")
        return 0 if clean else 1


class ServerGroup:
    """The supervised servers, one slot each."""

    def __init__(self, count: int, env: dict[str, str], metrics_dir: str, http: bool = True) -> None:
        self._env = env
        self._metrics_dir = metrics_dir
        self._options = () if http else ("--no-http",)
        self._processes: list[asyncio.subprocess.Process | None] = [None] * count
        self._stopping = False

    async def start(self) -> None:
        """Start every server; returns once all serve, raises StartFailed if one cannot."""
        starts = [asyncio.create_task(self._start(i)) for i in range(len(self._processes))]
        try:
            done, _ = await asyncio.wait(starts, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for start in starts:
                start.cancel()
            await asyncio.gather(*starts, return_exceptions=True)
        for start in done:
            if (failure := start.exception()) is not None:
                raise failure

    async def keep(self, index: int) -> None:
        """Start another server whenever slot ``index``'s exits, until cancelled. The
        wait before a restart doubles (to MAX_RESTART_DELAY) while servers keep dying
        young or cannot start; it is back to RESTART_DELAY after one that lived."""
        loop = asyncio.get_running_loop()
        delay = RESTART_DELAY
        while True:
            process = self._processes[index]
            assert process is not None
            started = loop.time()
            code = await process.wait()
            self._forget(process.pid)
            if self._stopping:
                return
            if loop.time() - started > LIVED_SECONDS:
                delay = RESTART_DELAY
            log.error(
                "server process %d (pid %d) exited with code %d; starting another in %.0f s",
                index,
                process.pid,
                code,
                delay,
            )
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RESTART_DELAY)
                try:
                    await self._start(index)
                    break
                except Exception as exc:
                    log.error("cannot start server process %d: %s; trying again in %.0f s", index, exc, delay)

    def _forget(self, pid: int) -> None:
        """Drop a gone server's share of the live gauges (open streams)."""
        mark_process_dead(pid, self._metrics_dir)  # type: ignore[no-untyped-call]

    async def _start(self, index: int) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stackduck",
            "serve",
            "--supervised",
            str(index),
            *self._options,
            env=self._env,
            stdin=asyncio.subprocess.PIPE,  # closes when this process dies: the server stops
            stdout=asyncio.subprocess.PIPE,  # the ready line; the server then points it at stderr
            # Its own session: a terminal's Ctrl-C reaches this process only, which passes
            # it on as SIGTERM (a server still starting would die of a KeyboardInterrupt).
            start_new_session=True,
        )
        self._processes[index] = process
        assert process.stdout is not None
        if await process.stdout.readline() != READY:
            if process.returncode is None:
                process.kill()
            raise StartFailed(index, await process.wait())

    async def stop(self, grace: float) -> bool:
        """Ask every server to stop (SIGTERM: each finishes its in-flight work within
        ``grace``), kill those still running well past it; True if all exited cleanly."""
        self._stopping = True
        running = [p for p in self._processes if p is not None and p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        waiting = asyncio.gather(*(p.wait() for p in running))
        try:
            await asyncio.wait_for(asyncio.shield(waiting), grace + STOP_MARGIN)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    log.error("server process pid %d did not stop in time: killed", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await waiting
        for process in running:
            self._forget(process.pid)
        return all(p.returncode == 0 for p in running)


def taken(address: str) -> bool:
    """Whether a server (of this host, or of another process group) holds ``address``:
    binding it without SO_REUSEPORT fails, so the servers must not share it."""
    host, _, port = address.rpartition(":")
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        host.strip("[]"), int(port), type=socket.SOCK_STREAM
    )[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind it
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@contextlib.contextmanager
def reserved(address: str) -> Iterator[str]:
    """``address`` with its port fixed: a port 0 is bound here (SO_REUSEPORT, never
    listening, so it takes no connections) until the servers are gone, and every server
    binds the same one."""
    host, _, port = address.rpartition(":")
    if int(port) != 0:
        yield address
        return
    bare = host.strip("[]")
    family, kind, proto, _, sockaddr = socket.getaddrinfo(bare, 0, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
        yield f"{host}:{sock.getsockname()[1]}"


@contextlib.contextmanager
def _metrics_dir() -> Iterator[str]:
    """The servers' metric files: the operator's PROMETHEUS_MULTIPROC_DIR (emptied of an
    earlier run's files, as prometheus-client asks), else a directory removed afterwards."""
    given = os.environ.get(METRICS_DIR)
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        yield given
        return
    made = tempfile.mkdtemp(prefix="stackduck-metrics-")
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)
