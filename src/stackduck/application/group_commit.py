"""Group commit: requests that arrive while a write is in flight share the next one.

An idle server writes a request at once (no added latency); a busy one writes
everything that piled up during the previous round trip in one batch, so the
round trips per second stay bounded while the jobs per round trip grow. Every
caller still gets its own result only after its batch is written.

A batch that fails for one request's sake must not fail the others: when a write of
several callers' requests raises (anything but storage being unavailable, which is
nobody's fault and would fail each alone too), each caller's requests are written
again on their own, and only the one that fails alone gets the error.

A caller that leaves (cancelled) before its results arrive still has its requests
written, unless the group commit was given an ``abandoned`` handler: then a request
whose caller left before the write began is dropped, and the results of one who left
during the write go to the handler (a claim's leases go back to the queue).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from stackduck.domain.errors import StorageUnavailable

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 2000


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R]]],
        max_batch: int = MAX_BATCH,
        abandoned: Callable[[list[R]], Awaitable[None]] | None = None,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._abandoned = abandoned
        self._pending: list[tuple[Sequence[T], asyncio.Future[list[R]]]] = []
        self._writer: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        """Nothing waits and nothing is being written."""
        return self._writer is None and not self._pending

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Write ``items`` (with whatever else is waiting); their results, in order."""
        if not items:
            return []
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="stackduck-group-commit")
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._take()
                if not batch:
                    continue
                flat = [item for items, _ in batch for item in items]
                try:
                    results = list(await self._write(flat))
                except StorageUnavailable as exc:
                    _fail(batch, exc)
                    continue
                except Exception as exc:
                    if len(batch) == 1:
                        _fail(batch, exc)
                    else:
                        await self._one_by_one(batch)
                    continue
                except BaseException:  # cancelled: nobody may wait forever
                    for _, future in batch + self._pending:
                        future.cancel()
                    self._pending = []
                    raise
                start, left = 0, []
                for items, future in batch:
                    mine = results[start : start + len(items)]
                    if not future.done():
                        future.set_result(mine)
                    elif self._abandoned is not None:
                        left.extend(mine)
                    start += len(items)
                if left and self._abandoned is not None:
                    await self._abandoned(left)
        finally:
            self._writer = None

    async def _one_by_one(self, batch: list[tuple[Sequence[T], asyncio.Future[list[R]]]]) -> None:
        """A shared write failed: each caller's requests alone, so the error reaches only
        the caller whose requests cause it."""
        for index, (items, future) in enumerate(batch):
            try:
                results = list(await self._write(list(items)))
            except Exception as exc:
                _fail([(items, future)], exc)
            except BaseException:
                for _, waiting in batch[index:] + self._pending:
                    waiting.cancel()
                self._pending = []
                raise
            else:
                if not future.done():
                    future.set_result(results)
                elif self._abandoned is not None:
                    await self._abandoned(results)

    def _take(self) -> list[tuple[Sequence[T], asyncio.Future[list[R]]]]:
        taken: list[tuple[Sequence[T], asyncio.Future[list[R]]]] = []
        size = 0
        while self._pending and (not taken or size + len(self._pending[0][0]) <= self._max_batch):
            entry = self._pending.pop(0)
            if self._abandoned is not None and entry[1].done():
                continue  # its caller left before it was written: nothing to hand back
            taken.append(entry)
            size += len(entry[0])
        return taken


def _fail(batch: Sequence[tuple[Sequence[T], asyncio.Future[list[R]]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
