"""The machine the bench runs on: its CPU time, all cores and processes together, and
a wait for it to be quiet before a measurement starts."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

#: Quiet: at most this share of all cores busy ...
QUIET_BUSY = 0.10
#: ... over this many seconds in a row.
QUIET_SPAN = 1.0
#: How long to wait for quiet at most: then the measurement starts anyway, and says so.
QUIET_PATIENCE = 120.0


@dataclass(frozen=True)
class MachineTime:
    """The whole machine's CPU time (all cores, every process: the server, the load,
    the databases, the kernel), from Linux's /proc/stat."""

    busy: float  # CPU-seconds spent running anything
    total: float  # CPU-seconds that passed on all cores together
    steal: float  # CPU-seconds the hypervisor gave to other guests
    counters: tuple[int, ...] = ()  # the raw /proc/stat ticks the figures come from

    @classmethod
    def now(cls) -> MachineTime | None:
        try:
            with open("/proc/stat") as stat:
                counters = tuple(int(v) for v in stat.readline().split()[1:9])
        except (OSError, ValueError):
            return None
        return cls.from_ticks(counters)

    @classmethod
    def from_ticks(cls, counters: tuple[int, ...]) -> MachineTime:
        user, nice, system, idle, iowait, irq, softirq, steal = counters
        tick = os.sysconf("SC_CLK_TCK")
        busy = user + nice + system + irq + softirq
        return cls(busy / tick, (busy + idle + iowait + steal) / tick, steal / tick, counters)

    def __add__(self, other: MachineTime) -> MachineTime:
        """Two stretches of time together."""
        return MachineTime.from_ticks(
            tuple(a + b for a, b in zip(self.counters, other.counters, strict=True))
        )

    def since(self, earlier: MachineTime | None) -> MachineTime | None:
        """The time that passed between ``earlier`` and now. Linux documents iowait as
        able to go backwards (and idle with it on some virtual machines), so a counter
        that fell counts as zero: the busy share then stays within 0..1."""
        if earlier is None:
            return None
        deltas = tuple(max(0, a - b) for a, b in zip(self.counters, earlier.counters, strict=True))
        return MachineTime.from_ticks(deltas)


def since(earlier: MachineTime | None) -> MachineTime | None:
    now = MachineTime.now()
    return now.since(earlier) if now is not None else None


@dataclass(frozen=True)
class Settled:
    """How a wait for a quiet machine went."""

    waited: float  # seconds
    quiet: bool  # False: still busy when the patience ran out
    busy: float  # the share of all cores busy over the last span


async def settle(patience: float = QUIET_PATIENCE) -> Settled:
    """Wait until the machine is quiet, ``patience`` seconds at most (0: not at all):
    what a previous scenario or configuration left running (a database checkpointing or
    vacuuming what was just written, a server shutting down, processes exiting) would
    otherwise be measured with the next one."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    if patience <= 0:
        return Settled(0.0, True, 0.0)
    while True:
        before = MachineTime.now()
        if before is None:  # no /proc/stat: nothing to wait on
            return Settled(0.0, True, 0.0)
        await asyncio.sleep(QUIET_SPAN)
        span = since(before)
        share = span.busy / span.total if span is not None and span.total > 0 else 0.0
        waited = loop.time() - started
        if share <= QUIET_BUSY or waited >= patience:
            return Settled(waited, share <= QUIET_BUSY, share)
