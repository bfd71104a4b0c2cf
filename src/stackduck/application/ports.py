"""The ports the use-cases drive. Adapters implement them; nothing here does I/O.

Every port is batch-shaped: a single job is a batch of one, so the hot path
(enqueue many, claim up to n, acknowledge many) needs no second API.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from stackduck.application.stops import Stop
from stackduck.domain.errors import InvalidJob, quoted
from stackduck.domain.job import Job, JobStatus


@dataclass(frozen=True, slots=True)
class Change:
    """A job's new state, written only if the stored job is still at
    ``expected_version`` (compare-and-set): no concurrent move is overwritten."""

    job: Job
    expected_version: int


@dataclass(frozen=True, slots=True)
class Completion:
    """The domain's complete move, as a store can write it without reading first: the
    lease it must match (token and worker; None = not checked) and the time."""

    job_id: str
    worker_id: str | None
    token: int | None
    now: float
    result: str | None = None


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """What the ready queue knows of a job: enough to order and route it."""

    job_id: str
    job_type: str
    priority: int
    run_at: float
    group_key: str = ""  # a memory queue takes a grouped type's groups in turns

    @classmethod
    def of(cls, job: Job) -> QueueEntry:
        return cls(job.id, job.job_type, job.priority, job.run_at, job.group_key)


@dataclass(frozen=True, slots=True)
class Page:
    jobs: list[Job]
    next_cursor: str


class Order(Enum):
    """How a listing is sorted: by id (ids grow with time: oldest or newest first), or
    queued jobs by due time (what runs next first; ties by id)."""

    OLDEST = "oldest"
    NEWEST = "newest"
    DUE = "due"


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Which jobs a listing holds, and in what order. None: not filtered on."""

    status: JobStatus | None = None
    job_type: str | None = None
    priority: int | None = None
    group: str | None = None  # "" names the jobs in no group
    #: True: queued jobs waiting for their time (due after ``now``); False: every other.
    scheduled: bool | None = None
    #: A metadata key and the value it must hold.
    metadata: tuple[str, str] | None = None
    order: Order = Order.OLDEST
    now: float = 0.0

    def matches(self, job: Job) -> bool:
        """Whether a job passes every filter (for stores that filter what they walk)."""
        if self.status is not None and job.status is not self.status:
            return False
        if self.queued_only and job.status is not JobStatus.QUEUED:
            return False
        if self.job_type is not None and job.job_type != self.job_type:
            return False
        if self.priority is not None and job.priority != self.priority:
            return False
        if self.group is not None and job.group_key != self.group:
            return False
        if self.scheduled is not None and self.scheduled != self.waits(job):
            return False
        if self.metadata is not None:
            key, value = self.metadata
            return bool(job.metadata) and json.loads(job.metadata).get(key) == value
        return True

    def waits(self, job: Job) -> bool:
        """A queued job waiting for its time."""
        return job.status is JobStatus.QUEUED and job.run_at > self.now

    @property
    def queued_only(self) -> bool:
        """Only queued jobs can match: sorting by due time lists those alone."""
        return self.order is Order.DUE or self.scheduled is True or self.status is JobStatus.QUEUED

    @property
    def walked_status(self) -> JobStatus | None:
        """The one status whose jobs a store need look at (None: every job's)."""
        if self.status is not None:
            return self.status
        return JobStatus.QUEUED if self.queued_only else None


def page_cursor(order: Order, job: Job) -> str:
    """Where a listing whose page ended with ``job`` goes on: the job's id, or in due
    order its due time and id (the stores that sort by due time in SQL and in memory)."""
    return f"{job.run_at!r}/{job.id}" if order is Order.DUE else job.id


def due_place(cursor: str) -> tuple[float, str]:
    """A due-order cursor's due time and job id; InvalidJob for text no page gave out."""
    at, _, job_id = cursor.partition("/")
    try:
        if job_id:
            return float(at), job_id
    except ValueError:
        pass
    raise InvalidJob(f"page_token {quoted(cursor)} is not one this server handed out")


#: What a listed job costs a page beyond the fields that vary in size (its id, numbers
#: and framing), and each of its ended attempts beyond its error and worker id.
LISTED_JOB_BYTES = 128
LISTED_ATTEMPT_BYTES = 48


def listed_bytes(job: Job) -> int:
    """What a job takes of a listing's byte budget: the UTF-8 bytes of its payload, error
    message, type, lease owner, metadata and result, plus LISTED_JOB_BYTES, and per ended
    attempt its error and worker id plus LISTED_ATTEMPT_BYTES. Every store counts the
    same (from stored lengths, without loading the payload)."""
    variable = (
        job.payload,
        job.error_message,
        job.job_type,
        job.lease_owner or "",
        job.metadata,
        job.result or "",
        *(a.error for a in job.attempts),
        *(a.worker_id for a in job.attempts),
    )
    attempts = len(job.attempts) * LISTED_ATTEMPT_BYTES
    return sum(len(text.encode()) for text in variable) + LISTED_JOB_BYTES + attempts


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeStats:
    """How one job type's jobs stand, from the record. Built with keywords only: its
    counts are all integers, and a count put in another's place would pass unseen."""

    job_type: str
    ready_by_priority: tuple[int, int, int]  # due now, priorities 1, 2, 3
    scheduled: int
    running: int
    dead: int
    completed_recently: int
    dead_recently: int
    #: When the longest-waiting due job fell due (None: nothing waits); its age is how
    #: far the workers are behind.
    oldest_ready_at: float | None = None

    @classmethod
    def empty(cls, job_type: str) -> TypeStats:
        """A type with no jobs at all (a paused type shows even so)."""
        return cls(
            job_type=job_type,
            ready_by_priority=(0, 0, 0),
            scheduled=0,
            running=0,
            dead=0,
            completed_recently=0,
            dead_recently=0,
        )

    @property
    def failure_rate(self) -> float:
        finished = self.completed_recently + self.dead_recently
        return self.dead_recently / finished if finished else 0.0


#: States a job ends in; retention prunes them by ``completed_at``.
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobStore(Protocol):
    """The durable record of every job: the source of truth for its state."""

    async def insert(self, jobs: Sequence[Job], key_seconds: float = 0.0) -> list[str]:
        """Store new jobs, all or none; when this returns, they are committed.

        A job with an idempotency key is stored only if no job of its type holds that key.
        A stored job holds its key while it is kept, and until ``key_seconds`` after its
        ``created_at`` even once it is gone (retention, purge); a later job takes the key
        over only when both have passed by its own ``created_at``. Within the batch, the
        first job with a key holds it for the later ones. Checked and written atomically
        with the insert, so however many callers race on one key, one job is stored.

        Returns, per job in order, the id of the job that holds its key: its own where it
        was stored (always, for a job without a key), an earlier job's where nothing was
        stored for it."""

    async def get(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The stored jobs among ``job_ids`` (unknown ids are left out)."""

    async def apply(self, changes: Sequence[Change]) -> list[bool]:
        """Write each change whose expectation holds; one flag per change."""

    async def start(self, owners: Mapping[str, str], now: float, lease_seconds: float) -> list[Job]:
        """Lease those of these jobs (job id: the worker to lease it to) that are queued
        and due (the domain's start move, each job atomically); returns the jobs leased."""

    async def complete(self, completions: Sequence[Completion]) -> list[Job | None]:
        """Complete the running jobs whose lease each completion matches (the domain's
        complete move, each job atomically; ids distinct); per completion the job as
        stored, or None where it did not apply (the caller judges those with the moves)."""

    async def expired_leases(self, now: float, limit: int) -> list[Job]:
        """Running jobs whose lease deadline is at or before ``now``."""

    async def next_lease_deadline(self) -> float | None:
        """The earliest lease deadline among running jobs, if any."""

    async def runnable(self, limit: int, after: str) -> list[QueueEntry]:
        """The queue entries of queued jobs (due or not) by id, ``after`` excluded: what
        (re-)seeding a ready queue, or checking one against the record, walks."""

    async def list_jobs(self, query: JobQuery, limit: int, cursor: str, max_bytes: int) -> Page:
        """The jobs a query matches, in its order; ``cursor`` (the store's own text, from a
        previous page's ``next_cursor``) continues a previous page. A page holds at most
        ``limit`` jobs, and no more than ``max_bytes`` of them by :func:`listed_bytes` (its
        first job whatever its size); no payload beyond the page is loaded."""

    async def count_jobs(self, query: JobQuery) -> int:
        """How many jobs a query's filters match (its order aside)."""

    async def count(self, now: float) -> dict[str, int]:
        """How many jobs are in each state (queued split into queued/scheduled)."""

    async def stats(self, now: float, since: float) -> list[TypeStats]:
        """Per job type, by job type; "recently" means after ``since``."""

    async def delete(
        self, job_ids: Sequence[str], statuses: Collection[JobStatus], finished_before: float | None = None
    ) -> int:
        """Remove for good those of these jobs that are (still) in one of ``statuses``
        and, when ``finished_before`` is given, (still) finished before it; checked and
        deleted atomically; returns how many went. A deleted job's idempotency key stays
        held until the ``key_seconds`` it was inserted with end (:meth:`free_keys`)."""

    async def prune(self, statuses: Collection[JobStatus], finished_before: float, limit: int) -> int:
        """Delete up to ``limit`` jobs in ``statuses`` that finished before the given time."""

    async def free_keys(self, now: float, limit: int) -> int:
        """Forget up to ``limit`` idempotency keys whose jobs are gone and whose
        ``key_seconds`` ended before ``now`` (what retention does once jobs are pruned);
        returns how many. A store whose keys expire by themselves returns 0."""


class PausedTypesStore(Protocol):
    """Which job types are paused (shared by every server instance)."""

    async def paused(self) -> frozenset[str]:
        """The paused job types."""

    async def set_paused(self, job_type: str, paused: bool) -> None:
        """Pause or resume one job type."""


class StorageHealth(Protocol):
    """Whether each storage tier in use answers and serves."""

    async def check(self) -> dict[str, bool]:
        """Tier name (memory, postgres, redis) → up. A tier failed over from is down."""


class Metrics(Protocol):
    """What happened, for whoever counts it (Prometheus, ...)."""

    def enqueued(self, jobs: Sequence[Job]) -> None: ...

    def delivered(self, jobs: Sequence[Job], now: float) -> None:
        """Jobs leased to a worker; ``now - run_at`` is how long each waited."""

    def completed(self, jobs: Sequence[Job], now: float) -> None: ...

    def failed(self, jobs: Sequence[Job], now: float) -> None:
        """Failed attempts (refused or lease expired); queued again = retried, failed = dead."""

    def streams_open(self, count: int) -> None:
        """How many ConsumeJobs streams this server holds now."""

    def claimed(self, asked: int, leased: int) -> None:
        """One claim made of storage: ``asked`` jobs wanted, ``leased`` got (0: empty)."""


class Claimer(Protocol):
    """Leases the best ready jobs to a worker, atomically: no job goes to two callers,
    however many server instances claim at once."""

    async def claim(
        self, owners: Sequence[str], job_types: Collection[str], now: float, lease_seconds: float
    ) -> list[Job]:
        """Up to ``len(owners)`` due jobs of ``job_types``, best first (priority, due
        time, arrival), each moved to running as :meth:`Job.start` does and leased to
        one of ``owners``: the best to the first listed, the next to the second, and so
        on (an owner listed twice takes two). One claim serves several waiting streams."""


class Schedule(Protocol):
    """Jobs queued for a later time: which fell due, and when the next one does (what
    the scheduler asks; every storage configuration keeps one)."""

    async def promote_due(self, now: float) -> dict[str, int]:
        """Make held jobs whose time has come ready; returns how many of each type."""

    async def next_due(self) -> float | None:
        """When the earliest held job becomes due, if any is held."""


class ReadyQueue(Schedule, Protocol):
    """A ready queue kept beside the record: it knows of a job only once told, so the
    ready path pushes every job that is offered and removes every one withdrawn (what
    :class:`QueueClaimer` pops). A storage whose own writes keep its queue (the
    PostgreSQL table; the Redis-alone store's scripts) has none."""

    async def push(self, entries: Sequence[QueueEntry], now: float) -> None:
        """Add jobs: ready at once if due, otherwise held until ``run_at``."""

    async def remove(self, entries: Sequence[QueueEntry]) -> None:
        """Forget jobs (cancelled ones); unknown ids are ignored."""

    async def pop(self, job_types: Collection[str], now: float, limit: int) -> list[QueueEntry]:
        """Take up to ``limit`` ready jobs of ``job_types``, best first
        (priority, then due time, then arrival)."""


class Notifier(Protocol):
    """Wakes consumers when jobs of their types become ready."""

    async def notify(self, ready: Mapping[str, int]) -> None:
        """So many jobs of each type became ready: wake up to that many consumers."""

    def wake(self, ready: Mapping[str, int]) -> None:
        """As :meth:`notify`, for the consumers of this process only."""

    def listen(self, job_types: Collection[str]) -> Waiter:
        """Register interest before looking at the queue, so no wake-up is missed."""

    def wake_everyone(self) -> None:
        """Wake every consumer waiting here (the queue changed under them, or shutdown)."""

    def announced(self, job_types: Collection[str]) -> int:
        """A count that grows with every wake-up of these types this process hears of
        (its own and other instances', and every ``wake_everyone``): unchanged means
        no job of these types was announced ready since it was read."""


class Waiter(Protocol):
    async def wait(self, max_seconds: float) -> bool:
        """Until woken (True) or ``max_seconds`` pass (False)."""

    def close(self) -> None:
        """Stop listening; a wake-up this waiter took but did not use is passed on."""

    def wake(self) -> None:
        """Wake this waiter alone, now (its consumer was handed jobs directly)."""

    @property
    def woken(self) -> bool:
        """Woken already (its consumer is about to look at the queue)."""


class StopListener(Protocol):
    """Who holds deliveries on this server (its streams), told when some end."""

    def stopped(self, stops: Sequence[Stop]) -> None:
        """These deliveries were cancelled or timed out: a holder here lets go of them."""

    def missed(self) -> None:
        """Stops may have been lost (the link to the other instances dropped): check
        what is held against the record."""


class Watch(Protocol):
    """One watcher of one job."""

    async def wait(self, max_seconds: float) -> bool:
        """Until the job may have changed (True) or ``max_seconds`` pass (False)."""

    def wake(self) -> None:
        """Make the watcher look at the job now (or at the server stopping)."""

    def close(self) -> None:
        """Stop watching."""


class Signals(Protocol):
    """News about single jobs, for this server instance and the others: stops for the
    deliveries that were cancelled or timed out, and changes of the jobs someone watches.
    What a lost message leaves undone is caught by a re-read of the record."""

    def on_stop(self, listener: StopListener) -> None:
        """Tell ``listener`` of every stop, made here or on another instance."""

    def send_stops(self, stops: Sequence[Stop]) -> None:
        """These deliveries ended: their holder lets go, on whichever instance it is."""

    def watch(self, job_id: str) -> Watch:
        """Be woken when the job changes, whichever instance changes it."""

    def changed(self, job_ids: Iterable[str]) -> None:
        """These jobs changed (a new version is stored): wake their watchers. Costs
        nothing beyond a look-up for jobs nobody watches."""


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds."""

    def random(self) -> float:
        """A number in [0, 1), for jitter."""
