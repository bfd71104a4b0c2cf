"""Claiming through a ready queue and a store: pop the best entries, then lease
each job with a compare-and-set write, so no job is ever leased twice.

Stores that can do both in one call (Postgres, Redis alone) implement the
:class:`~stackduck.application.ports.Claimer` port themselves.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from stackduck.application.ports import Change, Clock, JobStore, Notifier, QueueEntry, ReadyQueue
from stackduck.domain.job import Job

log = logging.getLogger(__name__)


class QueueClaimer:
    def __init__(self, queue: ReadyQueue, store: JobStore, clock: Clock, notifier: Notifier) -> None:
        self._queue = queue
        self._store = store
        self._clock = clock
        self._notifier = notifier

    async def claim(
        self, owners: Sequence[str], job_types: Collection[str], now: float, lease_seconds: float
    ) -> list[Job]:
        leased: list[Job] = []
        waiting = list(owners)  # those not given a job yet, in the order listed
        while waiting:
            entries = await self._queue.pop(job_types, now, len(waiting))
            if not entries:
                break
            # What the queue handed out was due when it was pushed, which may be after the
            # caller read the clock: judge "due" by the time now, not by the time then.
            now = max(now, self._clock.now())
            try:
                started = await self._start(entries, waiting, now, lease_seconds)
            except BaseException as exc:
                await self._put_back(entries, now)
                if leased and isinstance(exc, Exception):
                    break  # keep what an earlier round leased; the failure shows on the next claim
                raise
            leased.extend(started)
            if len(started) == len(entries):
                break
            # Some entries were stale (their job cancelled or re-planned): their owners
            # take the next ones.
            taken = {job.id for job in started}
            waiting = [
                owner for entry, owner in zip(entries, waiting, strict=False) if entry.job_id not in taken
            ] + waiting[len(entries) :]
        return sorted(leased, key=lambda job: job.ready_key)

    async def claim_capped(
        self,
        worker_id: str,
        job_types: Collection[str],
        caps: Mapping[str, int],
        now: float,
        lease_seconds: float,
        limit: int,
    ) -> list[Job]:
        """As :meth:`claim`, leasing no more than ``caps[t]`` jobs of each type in ``caps``.
        Each pop takes no more than the smallest cap left, so a capped type is never
        popped past its cap (nothing to push back), and a type whose cap is spent is
        left out of the next pop (the others' jobs still go)."""
        left = dict(caps)
        leased: list[Job] = []
        while len(leased) < limit:
            open_types = [t for t in job_types if left.get(t, 1) > 0]
            want = min([limit - len(leased), *(left[t] for t in open_types if t in left)])
            if not open_types:
                break
            entries = await self._queue.pop(open_types, now, want)
            if not entries:
                break
            now = max(now, self._clock.now())
            try:
                started = await self._start(entries, [worker_id] * len(entries), now, lease_seconds)
            except BaseException as exc:
                await self._put_back(entries, now)
                if leased and isinstance(exc, Exception):
                    break
                raise
            leased.extend(started)
            for job in started:
                if job.job_type in left:
                    left[job.job_type] -= 1
            if len(entries) < want:
                break  # the open types have no more due jobs
        return sorted(leased, key=lambda job: job.ready_key)

    async def _put_back(self, entries: Sequence[QueueEntry], now: float) -> None:
        """Nothing was leased (the store failed, or the claim was cancelled — its stream
        closed): the entries go back, and other waiting streams are told, as for new jobs;
        else a parked stream would find them only at its idle re-check."""
        await self._queue.push(entries, now)
        due = Counter(entry.job_type for entry in entries if entry.run_at <= now)
        if due:
            await self._notifier.notify(due)

    async def start(
        self, entries: Sequence[QueueEntry], worker_id: str, now: float, lease_seconds: float
    ) -> list[Job]:
        """Lease the jobs of popped entries: those stale are dropped, those not yet due
        go back to the queue; if the store fails, every entry goes back."""
        try:
            return await self._start(entries, [worker_id] * len(entries), now, lease_seconds)
        except BaseException:
            await self._put_back(entries, now)
            raise

    async def _start(
        self, entries: Sequence[QueueEntry], owners: Sequence[str], now: float, lease_seconds: float
    ) -> list[Job]:
        """Lease entry i's job to owners[i]."""
        leases = {entry.job_id: owner for entry, owner in zip(entries, owners, strict=False)}
        started = await self._store.start(leases, now, lease_seconds)
        if len(started) < len(entries):
            # An entry whose job is gone or no longer queued was stale (cancelled, finished):
            # dropped. A job still queued but not due by this clock (its entry pushed by a
            # clock ahead of ours) goes back to the queue for its time, never lost.
            # The leases are committed: whatever fails from here on must not lose them to
            # an error (their worker would never hear of them, and each would count a failed
            # attempt when its lease ran out). Entries that cannot be judged go back.
            taken = {job.id for job in started}
            rest = [e for e in entries if e.job_id not in taken]
            try:
                stored = await self._store.get([e.job_id for e in rest])
                waiting = [QueueEntry.of(job) for job in stored.values() if job.is_scheduled(now)]
            except Exception as exc:
                log.warning("could not judge %d passed-over queue entries; kept: %s", len(rest), exc)
                waiting = rest  # a stale one is dropped by the claim that next pops it
            if waiting:
                try:
                    await self._queue.push(waiting, now)
                except Exception as exc:
                    log.warning(
                        "%d queue entries of jobs not yet due could not go back (the ready queue's "
                        "check against the record puts them back): %s",
                        len(waiting),
                        exc,
                    )
        return started


async def start_by_moves(
    store: JobStore, owners: Mapping[str, str], now: float, lease_seconds: float
) -> list[Job]:
    """The start move through the domain: read, move, write back with compare-and-set.
    For stores that cannot do it in one statement."""
    stored = await store.get(list(owners))
    changes = []
    for job_id, worker_id in owners.items():
        job = stored.get(job_id)
        if job is None or not job.is_due(now):
            continue
        version = job.version
        job.start(worker_id, now, lease_seconds)
        changes.append(Change(job, version))
    written = await store.apply(changes)
    return [change.job for change, ok in zip(changes, written, strict=True) if ok]
