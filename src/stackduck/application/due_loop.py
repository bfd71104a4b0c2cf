"""A background loop that sleeps until its next due time, or until poked earlier."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from stackduck.application.ports import Clock
from stackduck.application.tasks import stop_if_cancelled
from stackduck.domain.errors import StackduckError

log = logging.getLogger(__name__)

#: Even with nothing planned, look again this often: another server instance, or a
#: storage tier that was re-seeded, may hold work this loop was not told about.
MAX_SLEEP_SECONDS = 5.0
#: Pause after a storage error before trying again.
ERROR_BACKOFF_SECONDS = 1.0


class DueLoop:
    """Runs ``step`` whenever its previous answer (the next due time) comes.

    ``step`` does the work that is due and returns when it next has work (Unix
    seconds), or None when it has none planned. :meth:`poke` tells the loop that
    something new is due at a given time, waking it if that is sooner.
    """

    def __init__(self, name: str, step: Callable[[], Awaitable[float | None]], clock: Clock) -> None:
        self._name = name
        self._step = step
        self._clock = clock
        self._wake = asyncio.Event()
        self._planned: float | None = None

    def poke(self, at: float) -> None:
        if self._planned is None or at < self._planned:
            self._planned = at
            self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                planned = await self._step()
            except StackduckError:
                log.warning(
                    "%s: storage error, retrying in %.0f s", self._name, ERROR_BACKOFF_SECONDS, exc_info=True
                )
                planned = self._clock.now() + ERROR_BACKOFF_SECONDS
            except Exception:  # a duty must never die: say so loudly and go on
                log.exception("%s: unexpected error, retrying in %.0f s", self._name, ERROR_BACKOFF_SECONDS)
                planned = self._clock.now() + ERROR_BACKOFF_SECONDS
            stop_if_cancelled()
            self._planned = planned
            if self._wake.is_set():
                continue
            timeout = MAX_SLEEP_SECONDS
            if planned is not None:
                timeout = min(max(planned - self._clock.now(), 0.0), MAX_SLEEP_SECONDS)
            # asyncio.timeout rather than wait_for, which on Python 3.11 can lose a
            # cancellation that arrives together with the wake-up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
