"""The gate new work passes through; closed when the server starts shutting down."""

from __future__ import annotations

import asyncio

from stackduck.domain.errors import ShuttingDown


class Gate:
    def __init__(self) -> None:
        self.closed = asyncio.Event()

    def close(self) -> None:
        self.closed.set()

    def check(self) -> None:
        if self.closed.is_set():
            raise ShuttingDown("the server is shutting down and takes no new work; retry on another instance")
