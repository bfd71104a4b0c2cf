"""Memory: every storage port in this process, nothing durable (the embedded default
when neither DATABASE_URL nor REDIS_URL is set, and the unit tests' world).

How a job goes through it:

- **Enqueue.** ``Producer`` (application/producer.py) inserts the job into
  ``MemoryJobStore`` (a dict of jobs, adapters/memory/store.py), then
  ``ReadyPath.offer`` (application/ready_path.py) pushes its entry into
  ``MemoryReadyQueue`` (adapters/memory/queue.py: one heap per job type ordered by
  priority, due time and arrival; a heap by time for jobs scheduled for later) and
  ``MemoryNotifier`` wakes a parked stream of its type. A due job enqueued while a
  stream of its type is parked with room goes to it directly instead (ADR 0013): it
  is inserted already running and never enters the queue. A job with an idempotency key
  is inserted only if no job of its type holds the key: ``MemoryJobStore`` keeps a dict
  of (type, key) → holder and window end, read and written with no await in between
  (one process, ADR 0016); a duplicate takes neither the hand-off nor the queue.
- **Claim.** ``Claims.claim`` (application/claims.py) leaves out paused types,
  then ``QueueClaimer`` (application/queue_claimer.py) pops the best entries from the
  heaps and has ``MemoryJobStore.start`` lease their jobs through the domain
  (``start_by_moves``: read, ``Job.start``, compare-and-set). An entry whose job is
  gone or no longer queued is dropped; a job not yet due goes back for its time.
- **Acknowledge.** ``Acks`` (application/acks.py) completes through
  ``MemoryJobStore.complete``, which is ``Job.complete`` itself
  (``complete_by_moves``); failures and heartbeats are domain moves, as everywhere.
- **Wake-ups.** ``MemoryNotifier`` wakes the consumers of this process. The
  scheduler (``ReadyPath.promote_due``) moves held entries whose time came to the
  ready heaps and wakes their consumers.

Periodic schedules: ``MemorySchedules``, a dict beside the store; a fire step checks the
schedule's version, inserts the tick's job and writes the schedule with no await in
between. Limits: ``MemoryLimits``, dicts beside the store; a limited claim counts the store's
running jobs, pops no more than each type's allowance and spends its bucket with no
await in between. Fair groups: a type's first grouped entry moves its ready entries into
turns (adapters/memory/turns.py: per priority a heap per group, the groups by turn
time), which every pop of the type then takes from (ADR 0029). Stops and watched jobs:
``MemorySignals``. Paused types: ``MemoryPausedTypes``. The charts' minutes:
``MemoryHistory``, a dict. Health:
always up. Nothing to open or close.
"""

from __future__ import annotations

from stackduck.adapters.health import MemoryHealth
from stackduck.adapters.memory import (
    MemoryJobStore,
    MemoryNotifier,
    MemoryPausedTypes,
    MemoryReadyQueue,
    MemorySignals,
)
from stackduck.adapters.memory.history import MemoryHistory
from stackduck.adapters.memory.limits import MemoryLimits
from stackduck.adapters.memory.schedules import MemorySchedules
from stackduck.application.ports import Clock
from stackduck.application.queue_claimer import QueueClaimer


class MemoryBackend:
    def __init__(self, clock: Clock, store: MemoryJobStore | None = None) -> None:
        """``store``: a memory store of the caller's (a test's, to watch or hold it)."""
        self.store = MemoryJobStore() if store is None else store
        self.queue = MemoryReadyQueue()
        self.schedule = self.queue  # the heap of held entries
        self.notifier = MemoryNotifier()
        self.signals = MemorySignals()
        self.claimer = QueueClaimer(self.queue, self.store, clock, self.notifier)
        self.paused_types = MemoryPausedTypes()
        self.schedules = MemorySchedules(self.store)
        self.limits = MemoryLimits(self.store, self.queue, self.claimer)
        self.history = MemoryHistory()
        self.health = MemoryHealth()
