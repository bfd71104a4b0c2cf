"""A drain measured in turns: the jobs, the seconds, the server's CPU, the machine's
time and the claims of each turn, added up. The deep-queue scenario drains a short
queue and a deep one turn about, so that a stretch of seconds when this machine runs
slow or fast falls on both alike; each side's figures are the sum of its turns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from stackduck.entrypoints.bench.claim_counts import ClaimCounts
from stackduck.entrypoints.bench.machine import MachineTime


@dataclass
class Drains:
    jobs: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0  # CPU-seconds
    machine: MachineTime | None = None  # None: no /proc/stat to read
    claims: ClaimCounts | None = None  # None: not a Stackduck server's counters to read
    turns: int = 0

    def add(
        self,
        jobs: int,
        seconds: float,
        server_cpu: float,
        machine: MachineTime | None,
        claims: ClaimCounts | None,
    ) -> None:
        self.jobs += jobs
        self.seconds += seconds
        self.server_cpu += server_cpu
        self.turns += 1
        first = self.turns == 1
        self.machine = machine if first else _sum(self.machine, machine)
        self.claims = claims if first else _sum(self.claims, claims)

    @property
    def rate(self) -> float:
        """Jobs/s over the turns' time together."""
        return self.jobs / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_per_job(self) -> float:
        """µs of the server's CPU a job."""
        return self.server_cpu / self.jobs * 1e6 if self.jobs else 0.0

    @property
    def server_busy(self) -> float:
        """The share of one core the server used while the turns ran."""
        return self.server_cpu / self.seconds if self.seconds > 0 else 0.0


T = TypeVar("T", MachineTime, ClaimCounts)


def _sum(total: T | None, more: T | None) -> T | None:
    """Both, added; unknown if either is (a turn that could not read it)."""
    return None if total is None or more is None else total + more
