"""Job ids: UUIDv7, so ids sort in creation order (FIFO tie-break, index locality)."""

from __future__ import annotations

import os

_MS_MASK = (1 << 48) - 1
_COUNTER_MAX = 0xFFF


class JobIds:
    """Makes time-ordered ids that stay monotonic within this process."""

    def __init__(self) -> None:
        self._last_ms = 0
        self._counter = 0

    def new(self, now: float) -> str:
        ms = int(now * 1000)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._counter += 1
            if self._counter > _COUNTER_MAX:
                ms += 1
                self._counter = 0
        else:
            self._counter = 0
        self._last_ms = ms
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & _MS_MASK) << 80 | 0x7 << 76 | self._counter << 64 | 0b10 << 62 | rand_b
        h = f"{value:032x}"  # str(uuid.UUID(int=value)), without its checks: 3x faster
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
