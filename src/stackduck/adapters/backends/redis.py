"""Redis alone (REDIS_URL set, DATABASE_URL not): one hash per job, sorted-set indexes,
and the ready queue, all in Redis; every write is a Lua script
(adapters/redis/scripts/), so a job and its indexes change together. Keys are built
in adapters/redis/keys.py. Durable only as far as Redis persists.

How a job goes through it:

- **Enqueue.** ``Producer`` (application/producer.py) inserts the job with
  ``RedisJobStore.insert``, one script, ``insert.lua``: the job's hash, its status
  index and its queue entry (``_entries.lua``: the type's ready set, scored priority
  then due time, or its scheduled set and the due index) in one call. The store is
  the queue, so ``ReadyPath.offer`` has nothing to push; it publishes the wake-up. A
  due job enqueued while a stream of its type is parked here with room is inserted
  already leased to it (ADR 0013) and gets no entry. A job with an idempotency key is
  stored only if the key's hash (``keys.idempotency``, in the type's slot) names no job
  still kept or in its window; the script takes the key in the same call. ``delete.lua``
  (retention, purge) gives a deleted job's key hash an expiry at its window's end
  (ADR 0023).
- **Claim.** ``Claims.claim`` (application/claims.py) leaves out paused types
  and calls ``RedisClaimer`` (adapters/redis/claimer.py), one script, ``claim.lua``:
  it merges the heads of the types' ready sets (``_heads.lua``), reads each job's
  hash, leases each queued one (the start move; mirrors
  ``stackduck.domain.job.Job.start``) and updates the indexes once per call
  (``_many.lua``). An entry whose job is no longer queued is dropped; a job not yet
  due goes back to its scheduled set. A script runs alone: no job is leased twice.
- **Acknowledge.** ``Acks`` (application/acks.py) completes distinct jobs with
  ``RedisJobStore.complete``, one script, ``complete.lua`` (mirrors
  ``stackduck.domain.job.Job.complete``: the lease must match); what it did not apply,
  and every failure or heartbeat, goes through the domain and ``apply.lua``
  (compare-and-set on the version), which moves the job's queue entry in the same
  call.
- **Wake-ups.** ``BroadcastNotifier`` over ``RedisChannel`` (pub/sub), which carries
  stops and changes of watched jobs too (``signals``). The scheduler
  (``ReadyPath.promote_due``) moves due entries from the scheduled sets to the ready
  sets (``RedisReadyQueue.promote_due``, ``promote.lua``, guided by the due index).

Periodic schedules: ``RedisSchedules`` (a hash per schedule, the set of names, the due
set by next tick); every write is ``fire.lua``, a compare-and-set on the schedule's version
that inserts the tick's job in the same call (the insert is ``_insert.lua``, as
``insert.lua``'s; ADR 0027).

Limits: ``RedisLimits`` (adapters/redis/limits.py): per limited type a hash in its slot
(``keys.limit``: the limit, and its rate's bucket) and the set of limited types; per type,
limited or not, the set of its running jobs (``keys.running``), which every script that
moves a job into or out of running keeps (claim, complete, apply, the insert of a handed-off
job, delete: one SADD or SREM per job, per type where the script batches). A claim
that names a limited type runs ``claim_limited.lua``: per limited type the allowance
(``Limit.allowance``: its limit less the running set's size, and the bucket's whole
tokens), then claim.lua's merge and leases (``_claim.lua``, shared), a type leaving the
merge once its allowance is leased, and the buckets spent in the same call. Setting a
limit (``put_limit.lua``) rebuilds the type's running set from ``status:running``, for
data written before the sets were kept.

Fair groups (ADR 0029): a job with a group (``Job.group_key``) is enqueued by the same
``insert.lua`` call into its group's sorted set of its priority (``keys.group``: by
run_at, due and later jobs together) instead of the ready sets, and its group's turn in
the type's turns of that priority (``keys.turns``: the later of when the group was last
served, ``keys.served``, and its earliest job's run_at) is set in that call
(``_groups.lua``); the type joins the set of grouped types (``keys.grouped``). A grouped
job queued for later is also in the type's waking set (``keys.waking``), marked in the
due index, so the scheduler's promotion (``promote.lua``) wakes the type's consumers at
its time. Every other script that queues a job or takes one out of the queue keeps the
group and its turn too: ``apply.lua`` (a retry, a release, an expired lease, a cancel),
``delete.lua``, ``fire.lua``, and ``push.lua`` for the re-queue at start
(``RedisReadyQueue(groups=True)``). The type's ungrouped jobs stay in its ready set and
take turns as the group "". A claim that names a grouped type (``Claims`` routes it by
``Limits.grouped``) runs ``claim_limited.lua``: per priority, the groups whose turn has
come, read from the turns in order (``_turns.lua``: never a group that has nothing
due), one job each, round after round, merged with the other types' ready jobs by time;
each group served gets the claim's time (plus a microsecond per group served before it
in the claim), an emptied one leaves the turns. A group at its limit's
group_concurrency, counted from its running set (``keys.group_running``; the group ""'s
is the type's running set less ``keys.running_grouped``) in the same call, is parked
(``keys.parked``) for 30 s or until one of its jobs ends (``freed.lua``).

Paused types: ``RedisPausedTypes``. The charts' minutes: ``RedisHistory``, a hash
per minute that expires after a day. Health: a ping. Opening opens the client and re-queues
what the store holds as queued (a repair, idempotent: ``seed``), then starts the
channel; closing stops them in reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from stackduck.adapters.backends.base import broadcasting
from stackduck.adapters.broadcast import BroadcastNotifier
from stackduck.adapters.failover import seed
from stackduck.adapters.health import RedisHealth
from stackduck.adapters.redis.channel import RedisChannel
from stackduck.adapters.redis.claimer import RedisClaimer
from stackduck.adapters.redis.client import Client, open_client
from stackduck.adapters.redis.history import RedisHistory
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.limits import RedisLimits
from stackduck.adapters.redis.paused_types import RedisPausedTypes
from stackduck.adapters.redis.queue import RedisReadyQueue
from stackduck.adapters.redis.schedules import RedisSchedules
from stackduck.adapters.redis.store import RedisJobStore
from stackduck.application.ports import Clock


class RedisBackend:
    def __init__(self, client: Client, keys: Keys) -> None:
        self.store = RedisJobStore(client, keys)
        self.queue: None = None  # the store's scripts keep each job's entry
        # The ready and scheduled sets the store's scripts write; read here for what
        # fell due, and to re-queue at start.
        self.ready_sets = RedisReadyQueue(client, keys, groups=True)
        self.schedule = self.ready_sets
        self.claimer = RedisClaimer(client, keys)
        self.notifier = BroadcastNotifier(RedisChannel(client, keys.channel))
        self.signals = self.notifier  # stops and watched jobs ride the same channel
        self.paused_types = RedisPausedTypes(client, keys)
        self.schedules = RedisSchedules(client, keys, self.store)
        self.limits = RedisLimits(client, keys)
        self.history = RedisHistory(client, keys)
        self.health = RedisHealth(self.ready_sets)

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, pool_size: int, prefix: str, clock: Clock) -> AsyncIterator[RedisBackend]:
        async with open_client(url, pool_size) as client:
            backend = cls(client, Keys(prefix))
            await seed(backend.ready_sets, backend.store, clock)
            await backend.ready_sets.mark_seeded()
            async with broadcasting(backend.notifier):
                yield backend
