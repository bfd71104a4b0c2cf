"""Group commit: callers share writes, and a failure reaches only the caller behind it."""

from __future__ import annotations

import asyncio

import pytest

from stackduck.application.group_commit import GroupCommit
from stackduck.domain.errors import StorageUnavailable


class Ledger:
    """A write that records each batch; "poison" makes it raise, as a bad value would
    make a database statement fail for the whole batch."""

    def __init__(self, error: Exception | None = None) -> None:
        self.batches: list[list[str]] = []
        self.error = error or ValueError("poison cannot be written")
        self.written: list[str] = []
        self.writing = asyncio.Event()  # set once a write is in flight

    async def write(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        self.writing.set()
        await asyncio.sleep(0)  # a round trip: others pile up meanwhile
        if "poison" in items:
            raise self.error
        self.written.extend(items)
        return [item.upper() for item in items]


async def _in_flight(ledger: Ledger) -> None:
    await ledger.writing.wait()


async def test_callers_arriving_during_a_write_share_the_next() -> None:
    ledger = Ledger()
    commit: GroupCommit[str, str] = GroupCommit(ledger.write)
    first = asyncio.ensure_future(commit.submit(["a0"]))
    await _in_flight(ledger)
    results = await asyncio.gather(first, *(commit.submit([f"a{n}"]) for n in range(1, 5)))
    assert results == [[f"A{n}"] for n in range(5)]
    assert ledger.batches == [["a0"], ["a1", "a2", "a3", "a4"]]


async def test_one_bad_request_fails_alone_and_the_others_are_written() -> None:
    ledger = Ledger()
    commit: GroupCommit[str, str] = GroupCommit(ledger.write)
    first = asyncio.ensure_future(commit.submit(["first"]))
    await _in_flight(ledger)  # the rest share the next write
    rest = [asyncio.ensure_future(commit.submit(items)) for items in (["b", "c"], ["poison"], ["d"])]
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)

    assert outcomes[0] == ["FIRST"]
    assert outcomes[1] == ["B", "C"]
    assert isinstance(outcomes[2], ValueError)
    assert outcomes[3] == ["D"]
    assert sorted(ledger.written) == ["b", "c", "d", "first"]
    assert ["b", "c", "poison", "d"] in ledger.batches  # they did share a write first


async def test_storage_unavailable_fails_the_batch_without_a_write_per_caller() -> None:
    ledger = Ledger(StorageUnavailable("down"))
    commit: GroupCommit[str, str] = GroupCommit(ledger.write)
    first = asyncio.ensure_future(commit.submit(["first"]))
    await _in_flight(ledger)
    rest = [asyncio.ensure_future(commit.submit(items)) for items in (["b"], ["poison"], ["d"])]
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)

    assert outcomes[0] == ["FIRST"]
    assert all(isinstance(o, StorageUnavailable) for o in outcomes[1:])
    assert len(ledger.batches) == 2
    with pytest.raises(StorageUnavailable):
        await commit.submit(["poison"])
