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


class Returns:
    """An ``abandoned`` handler: what it was handed back."""

    def __init__(self) -> None:
        self.handed: list[str] = []

    async def __call__(self, results: list[str]) -> None:
        self.handed.extend(results)


async def test_with_a_handler_a_request_whose_caller_left_before_its_write_is_dropped() -> None:
    ledger, returns = Ledger(), Returns()
    commit: GroupCommit[str, str] = GroupCommit(ledger.write, abandoned=returns)
    first = asyncio.ensure_future(commit.submit(["a"]))
    await _in_flight(ledger)
    left = asyncio.ensure_future(commit.submit(["gone"]))
    stays = asyncio.ensure_future(commit.submit(["b"]))
    await asyncio.sleep(0)
    left.cancel()

    assert await asyncio.gather(first, stays) == [["A"], ["B"]]
    assert ledger.batches == [["a"], ["b"]]
    assert returns.handed == []


async def test_with_a_handler_the_results_of_a_caller_who_left_mid_write_go_to_it() -> None:
    ledger, returns = Ledger(), Returns()
    commit: GroupCommit[str, str] = GroupCommit(ledger.write, abandoned=returns)
    leaving = asyncio.ensure_future(commit.submit(["x", "y"]))
    staying = asyncio.ensure_future(commit.submit(["z"]))
    await _in_flight(ledger)
    leaving.cancel()

    assert await staying == ["Z"]
    assert ledger.batches == [["x", "y", "z"]]
    assert returns.handed == ["X", "Y"]
    assert commit.idle


async def test_without_a_handler_a_departed_callers_requests_are_written_all_the_same() -> None:
    ledger = Ledger()
    commit: GroupCommit[str, str] = GroupCommit(ledger.write)
    first = asyncio.ensure_future(commit.submit(["a"]))
    await _in_flight(ledger)
    left = asyncio.ensure_future(commit.submit(["acked"]))
    await asyncio.sleep(0)
    left.cancel()

    assert await first == ["A"]
    await asyncio.sleep(0.01)
    assert ledger.written == ["a", "acked"]
