"""PostgreSQL alone (DATABASE_URL set, REDIS_URL not): the jobs table is the record
and the ready queue at once, and LISTEN/NOTIFY carries wake-ups between instances
(ADR 0008). The statements are the files in adapters/postgres/sql/queries/.

How a job goes through it:

- **Enqueue.** ``Producer`` (application/producer.py) inserts the job with
  ``PostgresJobStore.insert`` (``insert.sql``; ``COPY`` for large batches). A queued
  row is claimable as it is stored: there is no queue to push to, so
  ``ReadyPath.offer`` only announces the due jobs on the ``stackduck_ready``
  channel (``pg_notify``), which wakes a parked stream of their type on whichever
  instance listens (not published by an instance that knows it is alone, ADR 0015).
  A due job enqueued while a stream of its type is parked here with room is inserted
  already leased to it (ADR 0013). A batch with idempotency keys goes by
  ``insert_keyed.sql`` instead (never COPY): one statement claims each key in the
  ``stackduck_idempotency`` table and stores only the jobs that hold theirs (ADR 0023);
  deletes mark a pruned job's key (``_released_keys.sql``) and retention forgets it when
  its window ends (``free_keys.sql``).
- **Claim.** ``Claims.claim`` (application/claims.py) leaves out paused types
  and calls ``PostgresClaimer`` (adapters/postgres/claimer.py), one statement,
  ``claim.sql``: per job type and priority an index range scan takes the oldest due
  rows ``FOR UPDATE SKIP LOCKED``, the best ``limit`` of them are leased with
  ``_lease.sql`` (the start move; mirrors ``stackduck.domain.job.Job.start``), and
  the rows it locked but did not take are announced so that a claim that skipped them
  looks again. Two instances never lease one row: the row lock decides.
- **Acknowledge.** ``Acks`` (application/acks.py) completes distinct jobs with
  ``PostgresJobStore.complete``, one statement, ``complete.sql`` (mirrors
  ``stackduck.domain.job.Job.complete``: the lease must match); what it did not apply,
  and every failure or heartbeat, goes through the domain and ``apply.sql``
  (compare-and-set on the row's version).
- **Wake-ups.** ``BroadcastNotifier`` over ``PostgresChannel`` (one ``LISTEN``
  connection of its own), which carries stops and changes of watched jobs too
  (``signals``). Jobs scheduled for later need no promotion: the scheduler
  (``ReadyPath.promote_due``) asks ``PostgresSchedule`` (``became_due.sql``) which
  rows fell due since it last looked, to wake their consumers, and when the next
  falls due (``next_due.sql``).

Periodic schedules: ``PostgresSchedules`` (the ``stackduck_schedules`` table, statements in
``queries/schedules/``): a fire step is one transaction, the compare-and-set on the
schedule's row (``update.sql``) then the tick's job by ``insert_keyed.sql`` (ADR 0027).
Limits: ``PostgresLimits`` (the ``stackduck_limits`` table, statements in
``queries/limits/``): a claim that names a limited type is one transaction that locks the
types' limit rows, counts their running jobs, leases no more than each allows and writes
the spent buckets (ADR 0028). Fair groups (ADR 0029): a job enqueued in a group is
inserted in the same transaction as its group's row in ``stackduck_groups``
(``groups/queued.sql``: in the turns, its head brought forward), as is every move that
queues a grouped job again (``apply.sql`` then ``groups/queued.sql``); a type's first
grouped job marks the type (``groups/mark.sql``). Grouped jobs are not in the claim's
ready index: a claim that names a type with groups goes to ``PostgresLimits`` too, whose
transaction locks the groups whose turn has come (``groups/lock.sql``, ``FOR UPDATE SKIP
LOCKED``, earliest turn first), leases their earliest due jobs round by round
(``groups/claim.sql``; the ungrouped jobs are the group '') and writes each group's turn
back, deleting the emptied ones (``groups/turns.sql``); adapters/postgres/turns.py says
how. Paused types: ``PostgresPausedTypes`` (a table). The charts' minutes:
``PostgresHistory`` (``stackduck_minutes``, added to by every instance). Health:
``PostgresHealth``, over a connection of its own. Opening migrates the schema and opens the pool, then the
channel; closing stops them in reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.backends.base import broadcasting
from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.adapters.health import PostgresHealth
from stackduck.adapters.postgres.claimer import PostgresClaimer
from stackduck.adapters.postgres.history import PostgresHistory
from stackduck.adapters.postgres.limits import PostgresLimits
from stackduck.adapters.postgres.notifier import PostgresChannel
from stackduck.adapters.postgres.paused_types import PostgresPausedTypes
from stackduck.adapters.postgres.pool import open_pool
from stackduck.adapters.postgres.schedule import PostgresSchedule
from stackduck.adapters.postgres.schedules import PostgresSchedules
from stackduck.adapters.postgres.store import PostgresJobStore
from stackduck.application.ports import Clock


class PostgresBackend:
    def __init__(self, pool: AsyncConnectionPool[Any], conninfo: str, clock: Clock) -> None:
        self.pool = pool
        self.store = PostgresJobStore(pool)
        self.queue: None = None  # the table is the queue
        self.notifier = BroadcastNotifier(PostgresChannel(pool, conninfo))
        self.signals = self.notifier  # stops and watched jobs ride the same channel
        self.claimer = PostgresClaimer(pool, self.notifier)
        self.schedule = PostgresSchedule(pool, clock.now())
        self.paused_types = PostgresPausedTypes(pool)
        self.schedules = PostgresSchedules(pool, self.store.marks)
        self.limits = PostgresLimits(pool, self.notifier)
        self.history = PostgresHistory(pool)
        self.health = PostgresHealth(conninfo)

    @classmethod
    @asynccontextmanager
    async def open(cls, conninfo: str, pool_size: int, clock: Clock) -> AsyncIterator[PostgresBackend]:
        async with open_pool(conninfo, pool_size) as pool:
            backend = cls(pool, conninfo, clock)
            try:
                async with broadcasting(backend.notifier):
                    yield backend
            finally:
                await backend.health.close()
