"""Capped exponential backoff with jitter, for reconnecting and for retrying answers."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Waits of ``initial · 2^n`` seconds, capped at ``cap``, each shortened by up to
    half at random so that many workers cut off at once do not return at once."""

    def __init__(self, initial: float, cap: float, unit_random: Callable[[], float] = random.random) -> None:
        if not 0 < initial <= cap:
            raise ValueError(f"backoff needs 0 < initial <= cap; got initial={initial}, cap={cap}")
        self.initial = initial
        self.cap = cap
        self._random = unit_random
        self._base = initial

    def next(self) -> float:
        """The next wait, in seconds; the one after is twice as long (up to the cap)."""
        wait = self._base * (0.5 + 0.5 * self._random())
        self._base = min(self._base * 2, self.cap)
        return wait

    def reset(self) -> None:
        self._base = self.initial
