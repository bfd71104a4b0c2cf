"""A drain in turns adds up its turns: the rate over their time together, the server's
CPU per job over their jobs, the machine's time and the claims summed."""

from __future__ import annotations

import pytest

from stackduck.entrypoints.bench.claim_counts import ClaimCounts
from stackduck.entrypoints.bench.drains import Drains
from stackduck.entrypoints.bench.machine import MachineTime


def ticks(busy: int, idle: int) -> MachineTime:
    return MachineTime.from_ticks((busy, 0, 0, idle, 0, 0, 0, 0))


def test_turns_add_up() -> None:
    drains = Drains()
    drains.add(1_000, 0.5, 0.05, ticks(80, 20), ClaimCounts(5, 0, 1_000, 1_000))
    drains.add(3_000, 0.5, 0.15, ticks(60, 40), ClaimCounts(16, 1, 3_200, 3_000))

    assert drains.turns == 2
    assert drains.rate == pytest.approx(4_000)  # 4,000 jobs in one second, not the mean of two rates
    assert drains.server_cpu_per_job == pytest.approx(50)  # µs
    assert drains.server_busy == pytest.approx(0.2)
    assert drains.machine == ticks(140, 60)
    assert drains.claims == ClaimCounts(21, 1, 4_200, 4_000)


def test_a_turn_that_could_not_read_a_figure_leaves_it_unknown() -> None:
    drains = Drains()
    drains.add(1_000, 0.5, 0.05, ticks(80, 20), ClaimCounts(5, 0, 1_000, 1_000))
    drains.add(1_000, 0.5, 0.05, None, None)

    assert drains.machine is None and drains.claims is None
    assert drains.rate == pytest.approx(2_000)


def test_no_turns_are_no_figures() -> None:
    drains = Drains()
    assert (drains.rate, drains.server_cpu_per_job, drains.server_busy) == (0.0, 0.0, 0.0)
