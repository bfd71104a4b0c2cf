"""The ready queue in Redis: per job type, a sorted set of due jobs (priority, due
time, arrival) and one of jobs waiting for their time. Pops and promotions are Lua
scripts, so several server instances never take the same entry."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import translated
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.lua import Script
from stackduck.application.ports import QueueEntry

PRIORITY_FACTOR = 10**13  # ready score: priority · 10¹³ + run_at in ms (fits a double exactly)
PROMOTE_BATCH = 1000


def ready_score(entry: QueueEntry) -> int:
    return entry.priority * PRIORITY_FACTOR + int(entry.run_at * 1000)


def held_member(entry: QueueEntry) -> str:
    return f"{entry.priority}|{entry.job_id}"


@dataclass(frozen=True, slots=True)
class RedisState:
    """What the watcher learns of Redis at each look."""

    seeded: bool  # the marker is there: Redis was not flushed or restarted empty since seeding
    run_id: str | None  # changes whenever redis-server restarts (None: INFO not offered)
    evicted_keys: int | None  # keys Redis dropped under maxmemory since it started


class RedisReadyQueue:
    def __init__(self, client: Client, keys: Keys, groups: bool = False) -> None:
        """``groups``: the store is the queue (Redis alone), so a grouped job's entry goes
        to its group, whose turns the claim takes (ADR 0029); over PostgreSQL, whose claim
        takes the turns in the record, every entry goes to the ready sets."""
        self._client = client
        self._keys = keys
        self._groups = groups
        self._push = Script(client, "push")
        self._restore = Script(client, "restore")
        self._pop = Script(client, "pop")
        self._promote = Script(client, "promote")

    def _rows(
        self, entries: Sequence[QueueEntry], now: float, restoring: bool = False
    ) -> tuple[list[str], list[list[Any]]]:
        """The keys (types, the due index, then per type its two sets) and rows push.lua
        takes: per entry its type's number (in the keys),
        type, whether it is due (1/0), score as text (Lua would round it) and member;
        restore.lua's rows add the member the entry would have in the other set."""
        keys = [self._keys.types, self._keys.due]
        numbers: dict[str, int] = {}
        rows: list[list[Any]] = []
        for entry in entries:
            number = numbers.get(entry.job_type)
            if number is None:
                number = numbers[entry.job_type] = len(numbers) + 1
                keys.extend((self._keys.ready(entry.job_type), self._keys.scheduled(entry.job_type)))
            if entry.run_at <= now:
                row = [number, entry.job_type, 1, str(ready_score(entry)), entry.job_id]
            else:
                row = [number, entry.job_type, 0, repr(entry.run_at), held_member(entry)]
            if restoring:
                row.append(held_member(entry) if row[2] else entry.job_id)
            rows.append(row)
        return keys, rows

    @translated
    async def push(self, entries: Sequence[QueueEntry], now: float) -> None:
        if not entries:
            return
        keys, rows = self._rows(entries, now)
        args = [json.dumps(rows, ensure_ascii=False)]
        groups = {
            str(n): [*self._keys.of_group(e.job_type, e.priority, e.group_key), e.job_id, repr(e.run_at)]
            for n, e in enumerate(entries, start=1)
            if e.group_key and self._groups
        }
        if groups:
            args.append(json.dumps({"groups": groups, "grouped": self._keys.grouped}, ensure_ascii=False))
        await self._push(keys=keys, args=args)

    @translated
    async def restore(self, entries: Sequence[QueueEntry], now: float) -> list[QueueEntry]:
        """Add those of ``entries`` whose job has no entry here at all (neither due nor
        waiting), as push would; returns them."""
        if not entries:
            return []
        keys, rows = self._rows(entries, now, restoring=True)
        added = await self._restore(keys=keys, args=[json.dumps(rows, ensure_ascii=False)])
        return [entries[int(n) - 1] for n in added]

    @translated
    async def pop(self, job_types: Collection[str], now: float, limit: int) -> list[QueueEntry]:
        types = list(dict.fromkeys(job_types))  # once each: pop.lua reads each set once
        flat = await self._pop(keys=[self._keys.ready(t) for t in types], args=[limit])
        entries = []
        for i in range(0, len(flat), 3):
            score = int(float(flat[i + 2]))
            priority, run_at_ms = divmod(score, PRIORITY_FACTOR)
            entries.append(QueueEntry(flat[i + 1], types[int(flat[i]) - 1], priority, run_at_ms / 1000))
        return entries

    @translated
    async def remove(self, entries: Sequence[QueueEntry]) -> None:
        if not entries:
            return
        pipe = self._client.pipeline(transaction=False)
        for entry in entries:
            pipe.zrem(self._keys.ready(entry.job_type), entry.job_id)
            pipe.zrem(self._keys.scheduled(entry.job_type), held_member(entry))
        await pipe.execute()

    @translated
    async def promote_due(self, now: float) -> dict[str, int]:
        """Promote the types the due index marks as due by ``now``, and no others."""
        types = [str(t) for t in await self._due_index("zrangebyscore", self._keys.due, "-inf", now)]
        if not types:
            return {}
        pipe = self._client.pipeline(transaction=False)
        for job_type in types:
            keys = [
                self._keys.scheduled(job_type),
                self._keys.ready(job_type),
                self._keys.due,
                self._keys.waking(job_type),
            ]
            await self._promote(keys=keys, args=[now, PROMOTE_BATCH, job_type], client=pipe)
        moved = await self._promote.execute(pipe)
        return {job_type: int(n) for job_type, n in zip(types, moved, strict=True) if int(n)}

    @translated
    async def next_due(self) -> float | None:
        """The earliest mark in the due index: no later than the next entry's time."""
        head = await self._due_index("zrange", self._keys.due, 0, 0, withscores=True)
        return float(head[0][1]) if head else None

    async def _due_index(self, command: str, *args: Any, **options: Any) -> Any:
        """A read of the due index, built first if it is not (yet, or any more)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.exists(self._keys.due_indexed)
        getattr(pipe, command)(*args, **options)
        indexed, found = await pipe.execute()
        if indexed:
            return found
        await self._build_due_index()
        return await getattr(self._client, command)(*args, **options)

    @translated
    async def reindex_due(self) -> None:
        """Have the due index rebuilt from the scheduled sets at its next read (after
        Redis lost keys: the index may have gone while its marker stayed)."""
        await self._client.delete(self._keys.due_indexed)

    async def _build_due_index(self) -> None:
        """Mark every type whose scheduled or waking set holds entries (walks every type
        once: for entries written before the index existed, or restored from then)."""
        types = [str(t) for t in await self._client.smembers(self._keys.types)]
        pipe = self._client.pipeline(transaction=False)
        for job_type in types:
            pipe.zrange(self._keys.scheduled(job_type), 0, 0, withscores=True)
            pipe.zrange(self._keys.waking(job_type), 0, 0, withscores=True)
        heads = await pipe.execute() if types else []
        marks = {}
        for n, job_type in enumerate(types):
            found = [float(head[0][1]) for head in heads[2 * n : 2 * n + 2] if head]
            if found:
                marks[job_type] = min(found)
        if marks:
            await self._client.zadd(self._keys.due, marks, lt=True)
        await self._client.set(self._keys.due_indexed, "1")

    # -- tier bookkeeping ----------------------------------------------------------

    @translated
    async def ping(self) -> RedisState:
        """Whether Redis answers (else StorageUnavailable), still holds what was seeded
        into it, and which redis-server process answers."""
        pipe = self._client.pipeline(transaction=False)
        pipe.exists(self._keys.seeded)
        pipe.info("server")
        pipe.info("stats")
        seeded, server, stats = await pipe.execute(raise_on_error=False)
        if isinstance(seeded, Exception):
            raise seeded
        # A Redis that does not offer INFO (some hosted ones rename it) still serves:
        # restarts are then caught by the marker and the periodic sweep only.
        run_id = server.get("run_id") if isinstance(server, dict) else None
        evicted = stats.get("evicted_keys") if isinstance(stats, dict) else None
        return RedisState(
            bool(seeded), str(run_id) if run_id else None, int(evicted) if evicted is not None else None
        )

    @translated
    async def mark_seeded(self) -> None:
        await self._client.set(self._keys.seeded, "1")

    @translated
    async def take_turn(self, seconds: float) -> bool:
        """Whether this instance takes the periodic sweep of the next ``seconds``: the
        first to ask in that time does, so several instances do not all sweep."""
        return bool(
            await self._client.set(self._keys.sweep_turn, "1", nx=True, px=max(int(seconds * 1000), 1))
        )
