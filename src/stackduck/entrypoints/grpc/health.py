"""The standard gRPC health service, kept up to date from the storage tiers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

from stackduck.application.gate import Gate
from stackduck.application.health import serving as is_serving
from stackduck.application.ports import StorageHealth
from stackduck.application.tasks import stop_if_cancelled

log = logging.getLogger(__name__)

SERVICE = "stackduck.StackDuckService"
CHECK_SECONDS = 1.0
#: Health Watch streams one server keeps open at most (each holds an RPC: they must not
#: crowd out the workers' streams). Check answers without a limit.
MAX_WATCHES = 1000
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthReporter:
    """Sets ``""`` and ``stackduck.StackDuckService`` to SERVING / NOT_SERVING, and
    ``stackduck.storage.<tier>`` per storage tier (NOT_SERVING = down or failed over)."""

    def __init__(self, storage: StorageHealth, gate: Gate, max_watches: int = MAX_WATCHES) -> None:
        self.servicer = BoundedHealthServicer(max_watches)
        self._storage = storage
        self._gate = gate
        self.tiers: dict[str, bool] = {}
        self.serving = False

    async def refresh(self) -> None:
        tiers = await self._storage.check()
        serving = is_serving(tiers, self._gate.closed.is_set())
        for tier, up in tiers.items():
            await self.servicer.set(f"stackduck.storage.{tier}", SERVING if up else NOT_SERVING)
        for name in ("", SERVICE):
            await self.servicer.set(name, SERVING if serving else NOT_SERVING)
        if tiers != self.tiers and self.tiers:
            log.warning(
                "storage tiers now %s", ", ".join(f"{t}={'up' if u else 'DOWN'}" for t, u in tiers.items())
            )
        self.tiers, self.serving = tiers, serving

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                stop_if_cancelled()
                log.exception("health check failed unexpectedly; trying again")
            stop_if_cancelled()  # a storage client may have lost the cancellation (wait_for, 3.11)
            await asyncio.sleep(CHECK_SECONDS)


class BoundedHealthServicer(health.aio.HealthServicer):
    """grpc's health servicer, with at most ``max_watches`` Watch streams open."""

    def __init__(self, max_watches: int) -> None:
        super().__init__()
        self._max_watches = max_watches
        self.watching = 0

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        if self.watching >= self._max_watches:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this server already holds {self._max_watches} health Watch streams, the most it "
                "keeps open; ask with Check, or watch from fewer connections",
            )
        self.watching += 1
        try:
            await super().Watch(request, context)
        finally:
            self.watching -= 1
