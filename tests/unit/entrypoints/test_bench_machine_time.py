"""The bench's whole-machine accounting from /proc/stat counters."""

from __future__ import annotations

import os

from stackduck.entrypoints.bench.machine import MachineTime

TICK = os.sysconf("SC_CLK_TCK")


def ticks(user: int, idle: int, iowait: int, steal: int = 0) -> MachineTime:
    return MachineTime.from_ticks((user, 0, 0, idle, iowait, 0, 0, steal))


def test_busy_share_is_busy_over_all_time_that_passed() -> None:
    later = ticks(user=300, idle=500, iowait=100, steal=100).since(ticks(user=100, idle=300, iowait=100))

    assert later is not None
    assert (later.busy, later.total, later.steal) == (200 / TICK, 500 / TICK, 100 / TICK)
    assert later.busy / later.total == 0.4


def test_a_counter_that_went_backwards_counts_as_zero() -> None:
    # Linux lets iowait fall between two reads; the plain difference would make the
    # time that passed smaller than the busy time, and the busy share above 1.
    later = ticks(user=110, idle=200, iowait=40).since(ticks(user=100, idle=200, iowait=50))

    assert later is not None
    assert later.total == later.busy == 10 / TICK
    assert 0 <= later.busy / later.total <= 1


def test_without_an_earlier_reading_there_is_nothing_to_compare() -> None:
    assert ticks(user=1, idle=1, iowait=0).since(None) is None
