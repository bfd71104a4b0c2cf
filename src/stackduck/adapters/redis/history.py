"""The charts' minutes in Redis (Redis alone): a hash per minute, a field per count and
job type (``history_add.lua`` adds to it), expiring when the charts stop showing it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import translated
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.lua import Script
from stackduck.application.history import KEEP_SECONDS, MINUTE, RUN_BOUNDS, MinuteCounts

#: The counts' fields, by MinuteCounts attribute; run bucket i is "u<i>".
COUNTS = {"enqueued": "e", "completed": "c", "retried": "r", "dead": "d"}
DEPTH, WAIT = "depth", "wait"


class RedisHistory:
    def __init__(self, client: Client, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._add = Script(client, "history_add")

    @translated
    async def add(self, minutes: Sequence[MinuteCounts]) -> None:
        changes: dict[int, dict[str, dict[str, int | str]]] = {}
        for counts in minutes:
            change = changes.setdefault(counts.minute, {"add": {}, "set": {}})
            added = change["add"]
            for name, short in COUNTS.items():
                if n := getattr(counts, name):
                    field = f"{short}:{counts.job_type}"
                    added[field] = int(added.get(field, 0)) + n
            for i, n in enumerate(counts.runs):
                if n:
                    field = f"u{i}:{counts.job_type}"
                    added[field] = int(added.get(field, 0)) + n
            if counts.depth is not None:
                change["set"][f"{DEPTH}:{counts.job_type}"] = str(counts.depth)
                wait = "" if counts.oldest_wait is None else repr(counts.oldest_wait)
                change["set"][f"{WAIT}:{counts.job_type}"] = wait
        if not changes:
            return
        order = sorted(changes)
        await self._add(
            keys=[self._keys.minute(m) for m in order],
            args=[KEEP_SECONDS + MINUTE, *(json.dumps(changes[m]) for m in order)],
        )

    @translated
    async def read(self, first: int, last: int, job_type: str | None) -> list[MinuteCounts]:
        minutes = list(range(first - first % MINUTE, last + 1, MINUTE))
        pipe = self._client.pipeline(transaction=False)
        for minute in minutes:
            pipe.hgetall(self._keys.minute(minute))
        found: list[MinuteCounts] = []
        for minute, fields in zip(minutes, await pipe.execute(), strict=True):
            by_type: dict[str, MinuteCounts] = {}
            for raw, value in fields.items():
                name, _, kind = raw.partition(":")
                if job_type is not None and kind != job_type:
                    continue
                counts = by_type.setdefault(kind, MinuteCounts(minute, kind))
                _set(counts, name, value)
            found.extend(by_type[kind] for kind in sorted(by_type))
        return found

    async def prune(self, before: int) -> int:
        """Nothing to do: each minute expires by itself."""
        return 0


def _set(counts: MinuteCounts, name: str, value: str) -> None:
    if name == DEPTH:
        counts.depth = int(value)
    elif name == WAIT:
        counts.oldest_wait = float(value) if value else None
    elif name.startswith("u") and name[1:].isdigit() and int(name[1:]) <= len(RUN_BOUNDS):
        counts.runs[int(name[1:])] = int(value)
    else:
        for attribute, short in COUNTS.items():
            if name == short:
                setattr(counts, attribute, int(value))
