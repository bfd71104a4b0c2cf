"""The grpc.aio server: bind (plain or TLS), serve Stackduck, health and reflection,
and stop gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from stackduck.application.gate import Gate
from stackduck.application.maintenance import Maintenance
from stackduck.application.streams import Streams
from stackduck.application.tasks import cancel_and_wait
from stackduck.entrypoints.grpc.auth import TokenAuth
from stackduck.entrypoints.grpc.decoding import Guarded
from stackduck.entrypoints.grpc.generated import stackduck_pb2
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import add_StackDuckServiceServicer_to_server
from stackduck.entrypoints.grpc.health import HealthReporter
from stackduck.entrypoints.grpc.servicer import StackDuckServicer

#: Room for the other fields of a message around the largest allowed payload.
ENVELOPE_BYTES = 64 * 1024
#: How long stopped streams get to hand their jobs back before storage closes.
STREAM_CLOSE_SECONDS = 5.0


def message_limit(max_payload_bytes: int) -> int:
    """The largest message the server sends or receives."""
    return max_payload_bytes + ENVELOPE_BYTES


@dataclass(frozen=True, slots=True)
class Listen:
    address: str
    max_payload_bytes: int
    #: RPCs served at once; more are refused with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: One of several processes on this port (``serve --processes N``, ADR 0016): bound
    #: with SO_REUSEPORT. A lone server is not, so a port taken fails its start.
    shared_port: bool = False


class GrpcServer:
    def __init__(
        self,
        servicer: StackDuckServicer,
        streams: Streams,
        gate: Gate,
        maintenance: Maintenance,
        health: HealthReporter,
        listen: Listen,
    ) -> None:
        self._streams = streams
        self._gate = gate
        self._maintenance = maintenance
        self._health = health
        self._listen = listen
        limit = message_limit(listen.max_payload_bytes)
        self._server = grpc.aio.server(
            interceptors=[TokenAuth(listen.token)] if listen.token else [],
            maximum_concurrent_rpcs=listen.max_concurrent_rpcs,
            options=[
                ("grpc.server.max_pending_requests", listen.max_concurrent_rpcs),
                ("grpc.server.max_pending_requests_hard_limit", 2 * listen.max_concurrent_rpcs),
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                ("grpc.so_reuseport", int(listen.shared_port)),
            ],
        )
        guarded = Guarded(self._server)
        add_StackDuckServiceServicer_to_server(servicer, guarded)
        health_pb2_grpc.add_HealthServicer_to_server(health.servicer, cast(grpc.aio.Server, guarded))
        services = (
            stackduck_pb2.DESCRIPTOR.services_by_name["StackDuckService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(services, self._server)
        self._health_task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def address(self) -> str:
        host = self._listen.address.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> None:
        listen = self._listen
        try:
            if listen.tls_cert is not None and listen.tls_key is not None:
                credentials = grpc.ssl_server_credentials(
                    [(listen.tls_key.read_bytes(), listen.tls_cert.read_bytes())]
                )
                self.port = self._server.add_secure_port(listen.address, credentials)
            else:
                self.port = self._server.add_insecure_port(listen.address)
        except RuntimeError:  # grpc says "Failed to bind", not why
            self.port = 0
        if self.port == 0:
            raise OSError(f"cannot listen on {listen.address}: {_why_not(listen.address)}")
        await self._health.refresh()
        await self._server.start()
        self._maintenance.start()
        self._health_task = asyncio.create_task(self._health.run(), name="stackduck-health")

    async def stop(self, grace: float) -> None:
        """Take no new work, give workers ``grace`` seconds to answer the jobs they
        hold (acknowledgements are still served), then stop; jobs still held go back
        to the queue."""
        self._gate.close()
        with contextlib.suppress(Exception):
            await self._health.refresh()  # NOT_SERVING from now on
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._streams.drained(), grace)
        await self._server.stop(max(deadline - loop.time(), 0.0))
        with contextlib.suppress(TimeoutError):  # cancelled streams hand their jobs back
            await asyncio.wait_for(self._streams.streams_closed(), STREAM_CLOSE_SECONDS)
        await cancel_and_wait([self._health_task])
        await self._maintenance.stop()


def _why_not(address: str) -> str:
    """Why ``address`` cannot be listened on, as the kernel says it (grpc does not)."""
    host, _, port = address.rpartition(":")
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host.strip("[]"), int(port), type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.bind(sockaddr)
    except (OSError, ValueError) as exc:
        if getattr(exc, "errno", None) == errno.EADDRINUSE:
            return "the port is in use (another Stackduck server, or another program, listens there)"
        return str(exc)
    return "grpc could not bind it"
