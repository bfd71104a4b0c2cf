"""In-memory adapters: `STACKDUCK_STORAGE=memory`, the unit tests' fakes, and the ready queue
beside the SQLite record.

As the whole storage: one process, nothing durable, everything lost when the process stops.
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
