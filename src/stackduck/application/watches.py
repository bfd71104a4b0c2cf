"""WatchJob: a job as it is, then each change of it, until it ends.

A watcher registers with the signals before it reads the job, so no change after the
read goes unheard: every move that stores a new version of a watched job wakes its
watchers, on whichever instance it was made (the signals carry it there). Woken, a
watcher reads the job from the record and yields it if its version moved; the read,
not the message, is the truth, so a notice that is lost, late or repeated costs at
most a read. A watcher also reads again after ``watch_recheck_seconds`` without news,
in case one was lost.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from stackduck.application.gate import Gate
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import JobStore, Signals, Watch
from stackduck.domain.errors import JobNotFound, LimitExceeded, StorageUnavailable
from stackduck.domain.job import TERMINAL, Job

log = logging.getLogger(__name__)


class Watches:
    def __init__(self, store: JobStore, signals: Signals, gate: Gate, policy: QueuePolicy) -> None:
        self._store = store
        self._signals = signals
        self._gate = gate
        self._policy = policy
        self._open: set[Watch] = set()
        gate.on_close(self._wake_all)

    async def watch(self, job_id: str) -> AsyncGenerator[Job, None]:
        """The job now, then each new version, the job's last state (completed, failed,
        cancelled) last. JobNotFound for an unknown id (or one deleted meanwhile);
        LimitExceeded past the server's limit of watch streams; ShuttingDown when the
        server stops."""
        self._gate.check()
        limit = self._policy.max_watch_streams
        if len(self._open) >= limit:
            raise LimitExceeded(
                f"this server already serves {limit} WatchJob streams, the most it allows "
                "(STACKDUCK_MAX_WATCH_STREAMS); close one, or watch through another instance"
            )
        watch = self._signals.watch(job_id)  # before the read: no change after it is missed
        self._open.add(watch)
        try:
            job = await self._read(job_id)
            if job is None:
                raise JobNotFound(job_id)
            yield job
            while job.status not in TERMINAL:
                await watch.wait(self._policy.watch_recheck_seconds)
                self._gate.check()  # the server stops: the watcher goes elsewhere
                try:
                    fresh = await self._read(job_id)
                except StorageUnavailable as exc:
                    log.warning("a watcher of job %s waits for storage: %s", job_id, exc.for_log())
                    continue  # read again at the next news, or the recheck
                if fresh is None:  # deleted meanwhile (only finished jobs are)
                    raise JobNotFound(job_id)
                if fresh.version > job.version:
                    job = fresh
                    yield job
        finally:
            self._open.discard(watch)
            watch.close()

    async def _read(self, job_id: str) -> Job | None:
        return (await self._store.get([job_id])).get(job_id)

    def _wake_all(self) -> None:
        """Closing: every watcher looks up from its wait and ends."""
        for watch in self._open:
            watch.wake()
