"""In-memory adapters: the embedded default, and the unit tests' fakes.

One process, nothing durable: everything is lost when the process stops.
"""

from stackduck.adapters.memory.clock import ManualClock
from stackduck.adapters.memory.notifier import MemoryNotifier
from stackduck.adapters.memory.paused_types import MemoryPausedTypes
from stackduck.adapters.memory.queue import MemoryReadyQueue
from stackduck.adapters.memory.signals import MemorySignals
from stackduck.adapters.memory.store import MemoryJobStore

__all__ = [
    "ManualClock",
    "MemoryJobStore",
    "MemoryNotifier",
    "MemoryPausedTypes",
    "MemoryReadyQueue",
    "MemorySignals",
]
