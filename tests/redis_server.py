"""A private `redis-server` for fault-injection tests: started on a free port of
127.0.0.1, with nothing persisted unless asked, and at the test's mercy — SIGKILL,
SIGSTOP, SIGCONT, restart on the same port, FLUSHALL; and snapshots (SAVE) that
another redis-server can start from.

The methods block (briefly: signals and waits of a few milliseconds, a restart
until the new process answers PING); from async code call them through
``asyncio.to_thread`` so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.services import unavailable

HOST = "127.0.0.1"
READY_SECONDS = 10.0  # how long a (re)started redis-server may take to answer PING
EXIT_SECONDS = 5.0  # how long it may take to exit on SIGTERM before it gets SIGKILL
DUMP = "dump.rdb"  # the RDB file redis-server loads at start and SAVE writes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process (at a time) on a fixed port; see :func:`private_redis`."""

    def __init__(self, binary: str, port: int, directory: Path) -> None:
        self.binary = binary
        self.port = port
        self.directory = directory
        self.log_path = directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False  # SIGSTOP sent and no SIGCONT since
        self._snapshots = 0

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, snapshot: Path | None = None) -> None:
        """Start redis-server on :attr:`port` and wait until it answers PING; with
        ``snapshot`` (from :meth:`snapshot`), holding what Redis held when it was taken."""
        assert self.process is None or self.process.poll() is not None, "redis-server is running"
        loaded = self.directory / DUMP
        loaded.unlink(missing_ok=True)  # an empty start stays empty
        if snapshot is not None:
            shutil.copyfile(snapshot, loaded)
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--dbfilename", DUMP,
        ]  # fmt: skip
        # The log goes to a file, never to a pipe that could fill up and block the server.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.stopped = False
        deadline = time.monotonic() + READY_SECONDS
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._reap()
                raise RuntimeError(
                    f"redis-server on port {self.port} did not answer PING; its log:\n{self.log()[-3000:]}"
                )
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, and reap the process: everything it held in memory is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        """SIGSTOP: the process hangs; connections are accepted by the kernel, never answered."""
        assert self.process is not None and self.process.poll() is None, "redis-server is not running"
        self.process.send_signal(signal.SIGSTOP)
        self.stopped = True

    def cont(self) -> None:
        """SIGCONT after :meth:`stop` (does nothing otherwise)."""
        if self.stopped and self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self.stopped = False

    def restart(self) -> None:
        """A new, empty redis-server on the same port (the old one is killed if still up)."""
        self.kill()
        self.start()

    def snapshot(self) -> Path:
        """SAVE what Redis holds now to an RDB file of the test's own: a redis-server
        started from it (:meth:`start`, :func:`private_redis`) holds what this one held."""
        with self.client() as client:
            client.save()
        self._snapshots += 1
        kept = self.directory / f"snapshot-{self._snapshots}.rdb"
        (self.directory / DUMP).rename(kept)
        return kept

    def terminate(self) -> None:
        """Stop the process for good (SIGTERM, then SIGKILL), always reaping it."""
        if self.process is None:
            return
        try:
            if self.process.poll() is None:
                self.cont()  # a stopped process would not act on SIGTERM
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(EXIT_SECONDS)
                except subprocess.TimeoutExpired:
                    self.process.send_signal(signal.SIGKILL)
        finally:
            self._reap()

    def _reap(self) -> None:
        if self.process is not None:
            self.process.wait()
            self.stopped = False

    # -- talking to it --------------------------------------------------------------------

    @contextlib.contextmanager
    def client(self, timeout: float = 2.0) -> Iterator[redis.Redis]:
        """A short-lived synchronous client (closed on exit)."""
        with redis.Redis(
            host=HOST,
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        ) as client:
            yield client

    def ping(self) -> bool:
        try:
            with self.client(timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def flushall(self) -> None:
        with self.client() as client:
            client.flushall()

    def exists(self, key: str) -> bool:
        with self.client() as client:
            return bool(client.exists(key))

    def run_id(self) -> str:
        """The process's run id (``INFO server``): new at every start."""
        with self.client() as client:
            return str(client.info("server")["run_id"])


@contextlib.contextmanager
def private_redis(snapshot: Path | None = None) -> Iterator[RedisServer]:
    """A running redis-server of the caller's own, started from ``snapshot`` if given;
    terminated (and reaped) on exit.

    Skips the test when no ``redis-server`` binary is installed, or fails it when
    STACKDUCK_REQUIRE_SERVICES=1.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server", "no redis-server binary on PATH (install the redis-server package)")
        raise AssertionError("unreachable")  # unavailable() skips or fails
    directory = Path(tempfile.mkdtemp(prefix="stackduck-redis-"))
    server = RedisServer(binary, free_port(), directory)
    try:
        server.start(snapshot)
        yield server
    finally:
        server.terminate()
        shutil.rmtree(directory, ignore_errors=True)
