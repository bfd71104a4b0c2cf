"""A clock that moves only when told to: for tests and simulations."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import cycle


class ManualClock:
    def __init__(self, start: float = 1_800_000_000.0, randoms: Iterable[float] = (0.0,)) -> None:
        self._now = start
        self._randoms = cycle(tuple(randoms))

    def now(self) -> float:
        return self._now

    def random(self) -> float:
        return next(self._randoms)

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now

    def set(self, now: float) -> None:
        self._now = now
