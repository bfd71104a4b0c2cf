"""The job store in Redis (Redis alone): one hash per job, sorted-set indexes by
state, by due time and by lease deadline. Writes are Lua scripts, so a change and
its index updates land together or not at all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

from stackduck.adapters.redis.client import Client
from stackduck.adapters.redis.errors import translated
from stackduck.adapters.redis.fields import FIELDS, MUTABLE, decode, mutable_row, row
from stackduck.adapters.redis.keys import Keys
from stackduck.adapters.redis.listing import due_chunks
from stackduck.adapters.redis.lua import Script
from stackduck.adapters.stats_tally import Counts
from stackduck.application.ports import (
    LISTED_ATTEMPT_BYTES,
    LISTED_JOB_BYTES,
    Change,
    Completion,
    JobQuery,
    Order,
    Page,
    QueueEntry,
    TypeStats,
)
from stackduck.application.queue_claimer import start_by_moves
from stackduck.domain.job import Job, JobStatus

LIST_CHUNK = 500
PRUNE_SCAN = 2000
STATS_CHUNK = 1000
#: Due scheduled entries not yet promoted, counted per call: large, so that only a
#: scheduler far behind splits them (a promotion between two calls shifts the offsets).
DUE_CHUNK = 100_000


def _batch(
    names: Sequence[str], rows: list[list[str]], queues: list[tuple[str, ...]], keys: Keys, **extra: Any
) -> str:
    """A batch as one script argument (raw UTF-8: the scripts' cjson reads it as is)."""
    document = {"names": names, "rows": rows, "queues": queues, "types": keys.types, "due": keys.due, **extra}
    return json.dumps(document, ensure_ascii=False)


#: What a delete reads of each job first: what its keys are built from.
SCOPE = ("job_type", "idempotency_key", "priority", "group_key")
#: A job's type, idempotency key, priority and group, as a delete reads them.
Scope = tuple[str, str, int, str]


def _scope(found: Sequence[Any]) -> Scope:
    job_type, key, priority, group = found
    return str(job_type or ""), str(key or ""), int(priority or 0), str(group or "")


def holders_of(jobs: Sequence[Job], flat: Sequence[Any]) -> list[str]:
    """Per job, who holds its key, from insert.lua's reply (the row and holder of each
    job not stored)."""
    holders = [job.id for job in jobs]
    for at in range(0, len(flat), 2):
        holders[int(flat[at]) - 1] = str(flat[at + 1])
    return holders


class RedisJobStore:
    def __init__(self, client: Client, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._insert = Script(client, "insert")
        self._apply = Script(client, "apply")
        self._delete = Script(client, "delete")
        self._read = Script(client, "read")
        self._sizes = Script(client, "sizes")
        self._complete = Script(client, "complete")
        self._queued = Script(client, "queued")
        self._count = Script(client, "tally")

    @translated
    async def insert(self, jobs: Sequence[Job], key_seconds: float = 0.0) -> list[str]:
        """One script, insert.lua; jobs with an idempotency key also pass their key's hash
        (keys.idempotency) and the end of their window."""
        if not jobs:
            return []
        keys, batch = self.insert_arguments(jobs, key_seconds)
        return holders_of(jobs, await self._insert(keys=keys, args=[batch]))

    def insert_arguments(self, jobs: Sequence[Job], key_seconds: float) -> tuple[list[str], str]:
        """insert.lua's KEYS and its one argument for these jobs (fire.lua takes them too)."""
        keys = [*self._keys.store_keys(), *(self._keys.job(j.id) for j in jobs)]
        rows = [row(job) for job in jobs]
        queues = self._queues_of(jobs, all_running=False)
        extra: dict[str, Any] = self._groups_of(jobs)
        if any(job.idempotency_key for job in jobs):
            keyed = []
            for index, job in enumerate(jobs, start=1):
                if job.idempotency_key:
                    keys.append(self._keys.idempotency(job.job_type, job.idempotency_key))
                    keyed.append([index, len(keys), repr(job.created_at + key_seconds)])
            extra.update(keyed=keyed, job_prefix=self._keys.job_prefix)
        return keys, _batch(FIELDS, rows, queues, self._keys, **extra)

    def _queues_of(self, jobs: Sequence[Job], all_running: bool = True) -> list[tuple[str, ...]]:
        """Each job's ready, scheduled and running set, the keys built once per job type.
        With ``all_running`` False (an insert), only a job inserted running (handed off as
        it is stored) names its running set: the batch's size is most of what an insert
        costs, and a queued job's entry does without it."""
        keys = self._keys
        of_type = {t: (keys.ready(t), keys.scheduled(t)) for t in {job.job_type for job in jobs}}
        return [
            (*of_type[job.job_type], keys.running(job.job_type))
            if all_running or job.status is JobStatus.RUNNING
            else of_type[job.job_type]
            for job in jobs
        ]

    def _groups_of(self, jobs: Sequence[Job]) -> dict[str, Any]:
        """A batch's "groups" (per grouped job, by its number from 1 as text, its group's
        keys: Keys.of_group) and "grouped" (the set of grouped types); nothing for a batch
        without grouped jobs, whose argument stays as it was."""
        groups = {
            str(n): self._keys.of_group(job.job_type, job.priority, job.group_key)
            for n, job in enumerate(jobs, start=1)
            if job.group_key
        }
        return {"groups": groups, "grouped": self._keys.grouped} if groups else {}

    @translated
    async def get(self, job_ids: Sequence[str]) -> dict[str, Job]:
        return await self._get(job_ids)

    async def _get(self, job_ids: Sequence[str]) -> dict[str, Job]:
        if not job_ids:
            return {}
        flat = await self._read(args=[self._keys.job_prefix, len(FIELDS), *FIELDS, *job_ids])
        width = len(FIELDS)
        rows = (flat[i : i + width] for i in range(0, len(flat), width))
        return {
            job_id: decode(job_id, row)
            for job_id, row in zip(job_ids, rows, strict=True)
            if row[0] is not None
        }

    @translated
    async def apply(self, changes: Sequence[Change]) -> list[bool]:
        if not changes:
            return []
        keys = [*self._keys.store_keys(), *(self._keys.job(c.job.id) for c in changes)]
        rows = [mutable_row(c.job, c.expected_version) for c in changes]
        jobs = [c.job for c in changes]
        queues = self._queues_of(jobs)
        batch = _batch(MUTABLE, rows, queues, self._keys, **self._groups_of(jobs))
        flags = await self._apply(keys=keys, args=[batch])
        return [bool(int(flag)) for flag in flags]

    async def start(self, owners: Mapping[str, str], now: float, lease_seconds: float) -> list[Job]:
        return await start_by_moves(self, owners, now, lease_seconds)

    @translated
    async def complete(self, completions: Sequence[Completion]) -> list[Job | None]:
        """One script, no read: the domain's complete move where the lease matches (as
        complete.sql on Postgres; the store contract holds both to ``Job.complete``)."""
        if not completions:
            return []
        keys = [*self._keys.store_keys(), *(self._keys.job(c.job_id) for c in completions)]
        times = {now: repr(now) for now in {c.now for c in completions}}  # shared by a batch
        rows = [
            [
                c.job_id,
                c.worker_id or "",
                "" if c.token is None else str(c.token),
                times[c.now],
                c.result or "",
            ]
            for c in completions
        ]
        args = [
            json.dumps(rows, ensure_ascii=False),
            *self._keys.running_around,
            *self._keys.group_running_around,
            *self._keys.running_grouped_around,
            *FIELDS,
        ]
        flat = await self._complete(keys=keys, args=args)
        done = {flat[i]: decode(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)}
        return [done.get(c.job_id) for c in completions]

    @translated
    async def expired_leases(self, now: float, limit: int) -> list[Job]:
        ids = [
            str(i)
            for i in await self._client.zrangebyscore(self._keys.leases, "-inf", now, start=0, num=limit)
        ]
        found = await self._get(ids)
        return [found[i] for i in ids if i in found]

    @translated
    async def next_lease_deadline(self) -> float | None:
        head = await self._client.zrange(self._keys.leases, 0, 0, withscores=True)
        return float(head[0][1]) if head else None

    @translated
    async def runnable(self, limit: int, after: str) -> list[QueueEntry]:
        ids = await self._ids_after(self._keys.status(JobStatus.QUEUED), after, limit)
        found = await self._get(ids)
        return [QueueEntry.of(found[i]) for i in ids if i in found]

    @translated
    async def list_jobs(self, query: JobQuery, limit: int, cursor: str, max_bytes: int) -> Page:
        """Candidates a chunk at a time, in the query's order (by id from the status index or
        the index of every job; by due time from the queued jobs' own sets, listing.py);
        then each one's sizes and filtered fields (sizes.lua, no payload read), and only
        the jobs kept are read whole."""
        kept: list[str] = []
        cursors: dict[str, str] = {}
        used, more = 0, False
        async for job_id, continues, size in self._matching(query, cursor):
            size += LISTED_JOB_BYTES
            if len(kept) == limit or (kept and used + size > max_bytes):
                more = True
                break
            kept.append(job_id)
            cursors[job_id] = continues
            used += size
        jobs = await self._get(kept)
        return Page([jobs[i] for i in kept if i in jobs], cursors[kept[-1]] if more and kept else "")

    @translated
    async def count_jobs(self, query: JobQuery) -> int:
        """A walk over the candidates, as a listing's, reading no job whole."""
        return sum([1 async for _ in self._matching(query, "")])

    async def _matching(self, query: JobQuery, cursor: str) -> AsyncIterator[tuple[str, str, int]]:
        """(id, cursor after it, size) of each job the query matches, in its order."""
        if query.order is Order.DUE:
            chunks = due_chunks(self._client, self._keys, query, cursor)
        else:
            status = query.walked_status
            index = self._keys.status(status) if status is not None else self._keys.all_jobs
            chunks = self._id_chunks(index, cursor, newest=query.order is Order.NEWEST)
        async for chunk in chunks:
            ids = [job_id for job_id, _ in chunk]
            flat = await self._sizes(args=[self._keys.job_prefix, LISTED_ATTEMPT_BYTES, *ids])
            for at, (job_id, continues) in enumerate(chunk):
                found_type, size, *filtered = flat[at * 7 : at * 7 + 7]
                if found_type is not None and query.matches(_listed(job_id, found_type, *filtered)):
                    yield job_id, continues, int(size)

    async def _id_chunks(self, index: str, cursor: str, newest: bool) -> AsyncIterator[list[tuple[str, str]]]:
        """An id index (all scores 0: by id) a chunk at a time, after the cursor's id."""
        after = cursor
        while True:
            if newest:
                start = f"({after}" if after else "+"
                found = await self._client.zrevrangebylex(index, start, "-", start=0, num=LIST_CHUNK)
            else:
                start = f"({after}" if after else "-"
                found = await self._client.zrangebylex(index, start, "+", start=0, num=LIST_CHUNK)
            ids = [str(i) for i in found]
            if not ids:
                return
            yield [(job_id, job_id) for job_id in ids]
            after = ids[-1]

    @translated
    async def count(self, now: float) -> dict[str, int]:
        """Scheduled = queued jobs whose entry waits in their type's scheduled set (the
        store is the queue: ADR 0012, 0014), or grouped ones in its waking set; the rest
        of the queued are due."""
        types = [str(t) for t in await self._client.smembers(self._keys.types)]
        pipe = self._client.pipeline(transaction=False)
        for status in JobStatus:
            pipe.zcard(self._keys.status(status))
        for job_type in types:
            pipe.zcount(self._keys.scheduled(job_type), f"({now}", "+inf")
            pipe.zcount(self._keys.waking(job_type), f"({now}", "+inf")  # grouped jobs for later
        found = [int(n) for n in await pipe.execute()]
        counts = {status.value: size for status, size in zip(JobStatus, found, strict=False)}
        scheduled = sum(found[len(JobStatus) :])
        counts["queued"] -= scheduled
        counts["scheduled"] = scheduled
        return counts

    @translated
    async def stats(self, now: float, since: float) -> list[TypeStats]:
        """Queued jobs from each type's ready and scheduled sets (constant in the queue's
        length); running jobs, dead letters and what finished since ``since`` counted in
        Redis a chunk at a time. A walk over every job took 20.4 s with 1,000,000 waiting."""
        by_type: dict[str, Counts] = {}

        def of(job_type: str) -> Counts:
            return by_type.setdefault(job_type, Counts())

        types = sorted(str(t) for t in await self._client.smembers(self._keys.types))
        pipe = self._client.pipeline(transaction=False)  # every type's first call at once
        for job_type in types:
            await self._queued_chunk(job_type, now, 0, pipe)
        for job_type, (*ready, scheduled, read, oldest) in zip(
            types, await self._queued.execute(pipe), strict=True
        ):
            counts = of(job_type)
            counts.ready_by_priority = [int(n) for n in ready]
            counts.scheduled = int(scheduled)
            counts.oldest_ready_at = int(oldest) / 1000 if int(oldest) >= 0 else None
            offset = int(read)
            while int(read) == DUE_CHUNK:  # a scheduler far behind: the rest, a chunk a call
                *due, _, read, _ = await self._queued_chunk(job_type, now, offset, self._client)
                counts.ready_by_priority = [
                    count + int(n) for count, n in zip(counts.ready_by_priority, due, strict=True)
                ]
                offset += int(read)
        async for job_type, _, n in self._tally(self._keys.status(JobStatus.RUNNING), "lex", ""):
            of(job_type).running += n
        async for job_type, _, n in self._tally(self._keys.status(JobStatus.FAILED), "lex", ""):
            of(job_type).dead += n
        async for job_type, state, n in self._tally(self._keys.finished, "score", repr(since)):
            if state == "completed":  # cancelled jobs count in neither
                of(job_type).completed_recently += n
            elif state == "failed":
                of(job_type).dead_recently += n
        return [counts.stats(job_type) for job_type, counts in sorted(by_type.items())]

    async def _queued_chunk(self, job_type: str, now: float, offset: int, client: Any) -> Any:
        """queued.lua for one type: its ready counts by priority, its scheduled count, and
        up to DUE_CHUNK due-but-unmoved entries from ``offset``."""
        keys = [
            self._keys.ready(job_type),
            self._keys.scheduled(job_type),
            self._keys.grouped_queued(job_type),
        ]
        return await self._queued(keys=keys, args=[repr(now), offset, DUE_CHUNK], client=client)

    async def _tally(self, index: str, mode: str, start: str) -> AsyncIterator[tuple[str, str, int]]:
        """(type, state, count) over an index, a chunk per call (tally.lua)."""
        offset = 0
        after = start
        while True:
            args: list[str | int] = [self._keys.job_prefix, mode, after, offset, STATS_CHUNK]
            next_from, *flat = await self._count(keys=[index], args=args)
            for i in range(0, len(flat), 3):
                yield str(flat[i]), str(flat[i + 1]), int(flat[i + 2])
            if not next_from:
                return
            if mode == "lex":
                after = str(next_from)
            else:
                offset = int(next_from)

    @translated
    async def delete(
        self, job_ids: Sequence[str], statuses: Collection[JobStatus], finished_before: float | None = None
    ) -> int:
        if not job_ids:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(self._keys.job(job_id), *SCOPE)
        scopes = [_scope(found) for found in await pipe.execute()]
        return await self._delete_scoped(job_ids, scopes, statuses, finished_before)

    async def _delete_scoped(
        self,
        job_ids: Sequence[str],
        scopes: Sequence[Scope],
        statuses: Collection[JobStatus],
        finished_before: float | None,
    ) -> int:
        """delete.lua, given each job's type, idempotency key ("" = none), priority and
        group as read before (none changes while the job exists): the hash of each key
        goes along, and the keys of each grouped job's group."""
        keys = [*self._keys.store_keys(), *(self._keys.job(i) for i in job_ids)]
        held_at = []
        groups: dict[str, list[str]] = {}
        for n, (job_type, key, priority, group) in enumerate(scopes, start=1):
            if key:
                keys.append(self._keys.idempotency(job_type, key))
            held_at.append(len(keys) if key else 0)
            if group:
                groups[str(n)] = self._keys.of_group(job_type, priority, group)
        allowed = ",".join(s.value for s in statuses)
        before = "" if finished_before is None else repr(finished_before)
        args = [
            allowed,
            before,
            *self._keys.running_around,
            json.dumps(groups, ensure_ascii=False) if groups else "",
            len(job_ids),
            *job_ids,
            *held_at,
        ]
        return int(await self._delete(keys=keys, args=args))

    @translated
    async def free_keys(self, now: float, limit: int) -> int:
        """Nothing to do: a deleted job's idempotency hash expires by itself (delete.lua)."""
        return 0

    @translated
    async def prune(self, statuses: Collection[JobStatus], finished_before: float, limit: int) -> int:
        """The finished index holds every finished state (dead letters too, kept by
        default): walk it in order until ``limit`` jobs of the wanted states are found."""
        wanted = {s.value for s in statuses}
        doomed: list[tuple[str, Scope]] = []
        offset = 0
        while len(doomed) < limit:
            ids = [
                str(i)
                for i in await self._client.zrangebyscore(
                    self._keys.finished, "-inf", f"({finished_before}", start=offset, num=PRUNE_SCAN
                )
            ]
            if not ids:
                break
            pipe = self._client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(self._keys.job(job_id), "status", *SCOPE)
            found = await pipe.execute()
            doomed.extend(
                (i, _scope(scope)) for i, (state, *scope) in zip(ids, found, strict=True) if state in wanted
            )
            offset += len(ids)
        if not doomed:
            return 0
        doomed = doomed[:limit]
        return await self._delete_scoped(
            [job_id for job_id, _ in doomed], [scope for _, scope in doomed], statuses, finished_before
        )

    async def _ids_after(self, index: str, after: str, limit: int) -> list[str]:
        start = f"({after}" if after else "-"
        return [str(i) for i in await self._client.zrangebylex(index, start, "+", start=0, num=limit)]


def _listed(*fields: str | None) -> Job:
    """What a listing filters a job on (id, type, priority, group, status, due time and
    metadata: sizes.lua's), as a Job; the rest of it left empty."""
    job_id, job_type, priority, group, status, run_at, metadata = (field or "" for field in fields)
    return Job(id=job_id, job_type=job_type, payload="", priority=int(priority), delay=0, max_retries=0,
               status=JobStatus(status), run_at=float(run_at), created_at=0.0, updated_at=0.0,
               metadata=metadata, group_key=group)  # fmt: skip
