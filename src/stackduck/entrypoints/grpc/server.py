"""The grpc.aio server: bind, serve, and stop gracefully."""

from __future__ import annotations

import grpc

from stackduck.application.dispatch import Dispatcher
from stackduck.application.duties import Duties
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import add_StackDuckServiceServicer_to_server
from stackduck.entrypoints.grpc.servicer import StackDuckServicer

#: Room for the other fields of a message around the largest allowed payload.
ENVELOPE_BYTES = 64 * 1024


class GrpcServer:
    def __init__(
        self,
        servicer: StackDuckServicer,
        dispatcher: Dispatcher,
        duties: Duties,
        address: str,
        max_payload_bytes: int,
    ) -> None:
        self._dispatcher = dispatcher
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
        """Refuse new RPCs, give running ones ``grace`` seconds, then cancel the rest."""
        self._dispatcher.close()
        await self._server.stop(grace)
        await self._duties.stop()

    async def wait(self) -> None:
        await self._server.wait_for_termination()
