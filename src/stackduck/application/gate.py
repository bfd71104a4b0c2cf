"""The gate new work passes through; closed when the server starts shutting down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from stackduck.domain.errors import ShuttingDown


class Gate:
    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self._on_close: list[Callable[[], None]] = []

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the gate closes (to wake whatever waits)."""
        self._on_close.append(callback)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for callback in self._on_close:
            callback()

    def check(self) -> None:
        if self.closed.is_set():
            raise ShuttingDown("the server is shutting down and takes no new work; retry on another instance")
