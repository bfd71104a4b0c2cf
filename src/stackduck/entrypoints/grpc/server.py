"""The grpc.aio server: bind, serve, and stop gracefully."""

from __future__ import annotations

import asyncio
import contextlib

import grpc

from stackduck.application.dispatch import Dispatcher
from stackduck.application.duties import Duties
from stackduck.application.gate import Gate
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import add_StackDuckServiceServicer_to_server
from stackduck.entrypoints.grpc.servicer import StackDuckServicer

#: Room for the other fields of a message around the largest allowed payload.
ENVELOPE_BYTES = 64 * 1024
#: How long stopped streams get to hand their jobs back before storage closes.
STREAM_CLOSE_SECONDS = 5.0


class GrpcServer:
    def __init__(
        self,
        servicer: StackDuckServicer,
        dispatcher: Dispatcher,
        gate: Gate,
        duties: Duties,
        address: str,
        max_payload_bytes: int,
    ) -> None:
        self._dispatcher = dispatcher
        self._gate = gate
        self._duties = duties
        self._requested = address
        limit = max_payload_bytes + ENVELOPE_BYTES
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
            ]
        )
        add_StackDuckServiceServicer_to_server(servicer, self._server)
        self.port = 0

    @property
    def address(self) -> str:
        host = self._requested.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> None:
        self.port = self._server.add_insecure_port(self._requested)
        if self.port == 0:
            raise OSError(f"cannot listen on {self._requested}")
        await self._server.start()
        self._duties.start()

    async def stop(self, grace: float) -> None:
        """Take no new work, give workers ``grace`` seconds to answer the jobs they
        hold (acknowledgements are still served), then stop; jobs still held go back
        to the queue."""
        self._gate.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._dispatcher.drained(), grace)
        await self._server.stop(max(deadline - loop.time(), 0.0))
        with contextlib.suppress(TimeoutError):  # cancelled streams hand their jobs back
            await asyncio.wait_for(self._dispatcher.streams_closed(), STREAM_CLOSE_SECONDS)
        await self._duties.stop()

    async def wait(self) -> None:
        await self._server.wait_for_termination()
