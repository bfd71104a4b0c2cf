"""Periodic schedules in Redis (Redis alone): a hash per schedule, the set of their
names, and the schedules not paused by next tick. Every write is ``fire.lua``: a
compare-and-set on the hash's version, with the tick's jobs inserted in the same call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import translated
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.lua import Script
from stackduck.adapters.redis.store import RedisJobStore, holders_of
from stackduck.application.schedules import Fire
from stackduck.domain.schedule import Rule, Schedule


def _fields(schedule: Schedule) -> list[str]:
    """The schedule as its hash's field/value pairs, flat (every value a string)."""
    values = {
        "job_type": schedule.job_type,
        "payload": schedule.payload,
        "priority": str(schedule.priority),
        "delay": str(schedule.delay),
        "max_retries": str(schedule.max_retries),
        "timeout": repr(schedule.timeout),
        "metadata": schedule.metadata,
        "cron": schedule.rule.cron,
        "every": str(schedule.rule.every),
        "timezone": schedule.rule.timezone,
        "catch_up": "1" if schedule.catch_up else "0",
        "paused": "1" if schedule.paused else "0",
        "next_due": repr(schedule.next_due),
        "last_run": "" if schedule.last_run is None else repr(schedule.last_run),
        "version": str(schedule.version),
        "created_at": repr(schedule.created_at),
        "updated_at": repr(schedule.updated_at),
        "group_key": schedule.group_key,
    }
    return [text for pair in values.items() for text in pair]


def _schedule(name: str, hash_: Mapping[str, str]) -> Schedule:
    return Schedule(
        name=name,
        job_type=hash_["job_type"],
        payload=hash_["payload"],
        priority=int(hash_["priority"]),
        delay=int(hash_["delay"]),
        max_retries=int(hash_["max_retries"]),
        timeout=float(hash_["timeout"]),
        metadata=hash_["metadata"],
        rule=Rule(cron=hash_["cron"], every=int(hash_["every"]), timezone=hash_["timezone"]),
        catch_up=hash_["catch_up"] == "1",
        paused=hash_["paused"] == "1",
        next_due=float(hash_["next_due"]),
        last_run=float(hash_["last_run"]) if hash_["last_run"] else None,
        version=int(hash_["version"]),
        created_at=float(hash_["created_at"]),
        updated_at=float(hash_["updated_at"]),
        group_key=hash_.get("group_key", ""),  # absent from a schedule written before groups
    )


class RedisSchedules:
    def __init__(self, client: Client, keys: Keys, store: RedisJobStore) -> None:
        self._client = client
        self._keys = keys
        self._store = store
        self._fire = Script(client, "fire")

    @translated
    async def get(self, name: str) -> Schedule | None:
        found = await self._client.hgetall(self._keys.schedule(name))
        return _schedule(name, {str(k): str(v) for k, v in found.items()}) if found else None

    @translated
    async def read_all(self) -> list[Schedule]:
        names = sorted(str(name) for name in await self._client.smembers(self._keys.schedules))
        return await self._read(names)

    @translated
    async def put(self, schedule: Schedule, expected_version: int | None) -> bool:
        return await self._write(schedule, expected_version, [], "") is not None

    @translated
    async def delete(self, name: str) -> bool:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.schedule(name))
            pipe.srem(self._keys.schedules, name)
            pipe.zrem(self._keys.schedules_due, name)
            deleted, _, _ = await pipe.execute()
        return bool(deleted)

    @translated
    async def due(self, now: float, limit: int) -> list[Schedule]:
        due = await self._client.zrangebyscore(self._keys.schedules_due, "-inf", now, start=0, num=limit)
        names = [str(name) for name in due]
        return [s for s in await self._read(names) if not s.paused and s.next_due <= now]

    @translated
    async def next_due(self) -> float | None:
        first = await self._client.zrange(self._keys.schedules_due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    @translated
    async def fire(self, fire: Fire, key_seconds: float) -> list[str] | None:
        keys: list[str] = []
        batch = ""
        if fire.jobs:
            keys, batch = self._store.insert_arguments(fire.jobs, key_seconds)
        reply = await self._write(fire.schedule, fire.expected_version, keys, batch)
        return None if reply is None else holders_of(fire.jobs, reply)

    async def _write(
        self, schedule: Schedule, expected_version: int | None, keys: list[str], batch: str
    ) -> list[Any] | None:
        """fire.lua, after ``keys`` and with ``batch`` (insert.lua's, for the jobs to insert;
        none: "" and no keys); returns the insert's reply, or None when the version did not
        match and nothing was written."""
        keys = [*keys, self._keys.schedule(schedule.name), self._keys.schedules, self._keys.schedules_due]
        expected = "" if expected_version is None else str(expected_version)
        args = [batch, expected, schedule.name, "1" if schedule.paused else "0", repr(schedule.next_due)]
        reply = await self._fire(keys=keys, args=[*args, *_fields(schedule)])
        if reply == 0:
            return None
        inserted: list[Any] = reply[1]
        return inserted

    async def _read(self, names: list[str]) -> list[Schedule]:
        if not names:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self._keys.schedule(name))
            found = await pipe.execute()
        return [_schedule(name, hash_) for name, hash_ in zip(names, found, strict=True) if hash_]
