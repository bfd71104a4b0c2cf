"""Redis over PostgreSQL (DATABASE_URL and REDIS_URL set): PostgreSQL keeps the record
of every job and decides who leases it; Redis carries the ready queue and the
wake-ups (and, on the same channel, stops and changes of watched jobs); memory takes
the queue over while Redis fails (ADR 0009, ADR 0020).

How a job is enqueued:
``Producer._write`` (application/producer.py) commits the job to PostgreSQL with
``PostgresJobStore.insert`` (``insert.sql``, or ``COPY`` for a large batch) before
the call answers. Then ``ReadyPath.offer`` (application/ready_path.py) pushes its entry to
``FailoverReadyQueue`` (adapters/failover.py), which passes it to
``RedisReadyQueue.push`` (adapters/redis/queue.py), one script, ``push.lua``: a due
job goes to its type's ready set ``<prefix>:{<type>}:ready``, scored priority · 10¹³
+ due time in ms; a later one to the type's scheduled set and the due index. The due
jobs are announced on the ``<prefix>:ready`` pub/sub channel (``BroadcastNotifier``
over ``RedisChannel``), which wakes a parked stream of their type on whichever
instance listens. A due job enqueued while a stream of its type is parked here with
room skips all that: it is inserted already leased to it (ADR 0013). Idempotency keys
are PostgreSQL's alone (``insert_keyed.sql`` and the ``stackduck_idempotency`` table, as
on PostgreSQL alone; ADR 0023): a duplicate is known before anything reaches Redis, and
is never pushed.

How a job is claimed on Redis over PostgreSQL:
a ``ConsumeJobs`` stream with room (``Streams``, application/streams.py), or a
``DequeueJob`` call, reaches
``Claims.claim`` (application/claims.py), which leaves out paused types
(``PostgresPausedTypes``, read at most once a second) and calls ``QueueClaimer.claim``
(application/queue_claimer.py). That pops the best entries of the asked types:
``FailoverReadyQueue.pop`` → ``RedisReadyQueue.pop``, one script, ``pop.lua`` (a merge
of the heads of the types' ready sets by score, then id, in ``_heads.lua``; what it
takes it removes, so two instances never pop one entry). Then
``PostgresJobStore.start`` leases those jobs in one statement, ``start.sql``
(``UPDATE … WHERE status = 'queued' AND run_at <= now``; the lease is ``_lease.sql``,
which mirrors ``stackduck.domain.job.Job.start``). PostgreSQL's row lock decides who
leases a job; Redis only says which job to try. An entry whose job is no longer
queued (cancelled, finished, leased meanwhile) is dropped; a job still queued but not
yet due by this clock is pushed back for its time; if the statement fails, the popped
entries go back and their streams are woken. The leased jobs are sent; their lease
deadlines wake the reaper (application/leases.py), which re-queues or dead-letters
what is not answered in time.

How a job is acknowledged: ``Acks`` (application/acks.py) completes distinct jobs with
``PostgresJobStore.complete``, ``complete.sql`` (mirrors
``stackduck.domain.job.Job.complete``: the lease must match); the rest, and every
failure or heartbeat, goes through the domain and ``apply.sql`` (compare-and-set); a
job queued again (a retry) is offered to the ready queue as above.

How Redis failing is survived: ``FailoverReadyQueue`` watches Redis every half second.
When Redis stops answering it rebuilds the queue in a ``MemoryReadyQueue`` from the
record (``seed``: every queued row of PostgreSQL) and serves pop and push from there
(degraded: health reports Redis down); when Redis answers again, or answers empty, it
is re-seeded from the record and takes over. A paced sweep (adapters/reconcile.py)
puts back entries Redis lost while keeping its marker. The scheduler promotes due
entries with ``promote.lua``.

Periodic schedules are PostgreSQL's (``PostgresSchedules``, as on PostgreSQL alone): a
tick's job is committed with the schedule's write, then offered to the queue like any
enqueued job. So are limits (``PostgresLimits``): a claim that names a limited type
leases from the table itself, as on PostgreSQL alone, the limit rows locked while it
counts (ADR 0028), and then takes the leased jobs' entries out of the ready queue.

Fair groups (ADR 0029) are PostgreSQL's as well. A job enqueued in a group is committed
with its group's row in ``stackduck_groups`` (``groups/queued.sql``, in the insert's
transaction; a retry, release or expired lease writes it with the move), then pushed to
the ready queue like any job. A claim that names a type with groups goes to
``PostgresLimits``: it takes the groups in turns from the table, as on PostgreSQL alone
(adapters/postgres/turns.py), and then takes the leased jobs' entries out of the ready
queue; a grouped job's entry is never what decides when it runs.

The charts' minutes are PostgreSQL's too (``PostgresHistory``).

Health: PostgreSQL's probe (a connection of its own), and Redis as up while the
queue is not failed over. Opening opens the pool and the client, starts the channel,
seeds Redis from the record (or fails over at once), then runs the watcher and the
sweep; closing stops them in reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stackduck.adapters.backends.base import broadcasting, running
from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.adapters.failover import FailoverReadyQueue
from stackduck.adapters.health import FailoverHealth, PostgresHealth, TiersHealth
from stackduck.adapters.postgres.history import PostgresHistory
from stackduck.adapters.postgres.limits import PostgresLimits
from stackduck.adapters.postgres.paused_types import PostgresPausedTypes
from stackduck.adapters.postgres.pool import open_pool
from stackduck.adapters.postgres.schedules import PostgresSchedules
from stackduck.adapters.postgres.store import PostgresJobStore
from stackduck.adapters.reconcile import SweepPace
from stackduck.adapters.redis.channel import RedisChannel
from stackduck.adapters.redis.client import Client, open_client
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.queue import RedisReadyQueue
from stackduck.application.ports import Clock
from stackduck.application.queue_claimer import QueueClaimer


class RedisPostgresBackend:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        conninfo: str,
        client: Client,
        keys: Keys,
        pace: SweepPace,
        clock: Clock,
    ) -> None:
        self.pool = pool
        self.store = PostgresJobStore(pool)
        self.notifier = BroadcastNotifier(RedisChannel(client, keys.channel))
        self.signals = self.notifier  # stops and watched jobs ride the same channel
        self.queue = FailoverReadyQueue(RedisReadyQueue(client, keys), self.store, clock, self.notifier, pace)
        self.schedule = self.queue
        self.claimer = QueueClaimer(self.queue, self.store, clock, self.notifier)
        self.paused_types = PostgresPausedTypes(pool)
        self.schedules = PostgresSchedules(pool, self.store.marks)
        self.limits = PostgresLimits(pool, self.notifier, self.queue)
        self.history = PostgresHistory(pool)
        self._postgres_health = PostgresHealth(conninfo)
        self.health = TiersHealth([self._postgres_health, FailoverHealth(self.queue)])

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        conninfo: str,
        pool_size: int,
        redis_url: str,
        redis_pool_size: int,
        prefix: str,
        pace: SweepPace,
        clock: Clock,
    ) -> AsyncIterator[RedisPostgresBackend]:
        async with open_pool(conninfo, pool_size) as pool, open_client(redis_url, redis_pool_size) as client:
            backend = cls(pool, conninfo, client, Keys(prefix), pace, clock)
            try:
                async with broadcasting(backend.notifier):
                    await backend.queue.start()
                    async with running(
                        redis_watch=backend.queue.watch(), redis_reconcile=backend.queue.reconciler.run()
                    ):
                        try:
                            yield backend
                        finally:
                            backend.queue.close()
            finally:
                await backend._postgres_health.close()
