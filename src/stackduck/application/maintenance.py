"""The maintenance a serving instance runs in the background: promote due jobs, expire leases,
prune finished jobs, fire periodic schedules, write the charts' minutes."""

from __future__ import annotations

import asyncio

from stackduck.application.history import History
from stackduck.application.leases import LeaseReaper
from stackduck.application.ready_path import ReadyPath
from stackduck.application.retention import Retention
from stackduck.application.schedules import Schedules
from stackduck.application.tasks import cancel_and_wait


class Maintenance:
    def __init__(
        self,
        ready: ReadyPath,
        reaper: LeaseReaper,
        retention: Retention,
        schedules: Schedules,
        history: History,
    ) -> None:
        self._loops = (ready.scheduler, reaper.loop, retention.loop, schedules.loop, history.loop)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(loop.run(), name=f"stackduck-{i}") for i, loop in enumerate(self._loops)
            ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)
