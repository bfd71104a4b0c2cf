"""The real clock: wall time and the process's random numbers."""

from __future__ import annotations

import random
import time


class SystemClock:
    def __init__(self) -> None:
        self._random = random.Random()

    def now(self) -> float:
        return time.time()

    def random(self) -> float:
        return self._random.random()
