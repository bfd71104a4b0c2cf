"""Periodic schedules: define, list, pause and remove them, and fire each tick once,
however many server instances run (ADR 0027).

Every instance runs the fire loop (a :class:`DueLoop`, started with the other
maintenance loops). At a tick's time it reads the schedules that are due and fires each
one with one atomic step of the store (:meth:`ScheduleStore.fire`): write the schedule
advanced to its next tick, over the version it was read at, and insert the tick's job,
together or not at all. Two instances that read the same version race on that write and
one loses it; an instance that dies mid-step leaves nothing written. The job's
idempotency key (``schedule:<name>:<tick in UTC>``) is the second guard: a tick enqueues
one job even if a step were ever repeated.

The job is inserted due at its tick, a few milliseconds after it, so the ready path
delivers it at once. Changes made on another instance are seen within
:data:`REREAD_SECONDS`: the loop reads the earliest tick again at least that often.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stackduck.application.due_loop import DueLoop
from stackduck.application.gate import Gate
from stackduck.application.ids import JobIds
from stackduck.application.moves import log_state
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Clock, Metrics
from stackduck.application.ready_path import ReadyPath
from stackduck.domain.errors import IllegalTransition, ScheduleNotFound, StorageUnavailable
from stackduck.domain.job import Job
from stackduck.domain.rules import JobRequest, validate
from stackduck.domain.schedule import GRACE_SECONDS, Rule, Schedule, instant, validate_schedule_name

log = logging.getLogger(__name__)

#: The fire loop reads the earliest tick again at least this often, so that a schedule
#: made, changed or resumed on another instance fires on time here too.
REREAD_SECONDS = 1.0
#: Due schedules fired per read (a loop with more due reads again at once).
FIRE_BATCH = 50
#: Attempts at a change that keeps losing its compare-and-set to concurrent writes.
WRITE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Fire:
    """One fire step: ``schedule`` (the advanced one) is written only over
    ``expected_version``, and ``jobs`` are inserted with it, atomically."""

    expected_version: int
    schedule: Schedule
    jobs: Sequence[Job] = ()


class ScheduleStore(Protocol):
    """The schedules, shared by every instance on the storage (where the record is)."""

    async def get(self, name: str) -> Schedule | None: ...

    async def read_all(self) -> list[Schedule]:
        """Every schedule, by name."""

    async def put(self, schedule: Schedule, expected_version: int | None) -> bool:
        """Write the schedule if the stored one is at ``expected_version`` (None: if none
        has its name); False, changing nothing, otherwise."""

    async def delete(self, name: str) -> bool:
        """Remove it; False when there was none."""

    async def due(self, now: float, limit: int) -> list[Schedule]:
        """Up to ``limit`` schedules not paused whose next tick is at or before ``now``,
        earliest first."""

    async def next_due(self) -> float | None:
        """The earliest next tick of the schedules not paused."""

    async def fire(self, fire: Fire, key_seconds: float) -> list[str] | None:
        """Atomically: write ``fire.schedule`` over ``fire.expected_version`` and insert
        ``fire.jobs`` as :meth:`JobStore.insert` does (idempotency keys held
        ``key_seconds``); returns the insert's holders, or None (nothing written) when
        the stored schedule is no longer at that version."""


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    """A client's schedule, with wire semantics ("" / 0 / None = not given)."""

    name: str
    job_type: str
    payload: str
    cron: str = ""
    every: int = 0
    timezone: str = ""
    catch_up: bool = True
    priority: int = 0
    delay: int = 0
    max_retries: int = 0
    retry_limit: int | None = None
    timeout: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)
    group: str = ""


class Schedules:
    def __init__(
        self,
        store: ScheduleStore,
        ready: ReadyPath,
        clock: Clock,
        ids: JobIds,
        policy: QueuePolicy,
        gate: Gate,
        metrics: Metrics,
        grace: float = GRACE_SECONDS,
    ) -> None:
        self._store = store
        self._ready = ready
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._gate = gate
        self._metrics = metrics
        self._grace = grace
        self.loop = DueLoop("schedules", self.fire_due, clock)

    # -- what clients ask ------------------------------------------------------

    async def put(self, request: ScheduleRequest) -> tuple[Schedule, bool]:
        """Create the schedule, or replace the one of its name (keeping its pause, and its
        next tick when the rule is unchanged); returns it, and whether it is new."""
        self._gate.check()
        now = self._clock.now()
        name = validate_schedule_name(request.name)
        rule = Rule.of(request.cron, request.every, request.timezone, now)
        job = JobRequest(
            job_type=request.job_type,
            payload=request.payload,
            priority=request.priority,
            delay=request.delay,
            max_retries=request.max_retries,
            retry_limit=request.retry_limit,
            timeout=request.timeout,
            metadata=request.metadata,
            group=request.group,
        )
        spec = validate(job, now, self._policy.max_payload_bytes)
        new = Schedule.new(name, spec, rule, request.catch_up, now)
        for _ in range(WRITE_ATTEMPTS):
            current = await self._store.get(name)
            schedule = new if current is None else current.replaced_by(new, now)
            if await self._store.put(schedule, None if current is None else current.version):
                self.loop.poke(schedule.next_due)
                log.info("schedule %s: %s, next %s", name, rule.describe(), instant(schedule.next_due))
                return schedule, current is None
        raise _busy(name)

    async def schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        return await self._store.read_all()

    async def get(self, name: str) -> Schedule:
        found = await self._store.get(validate_schedule_name(name))
        if found is None:
            raise ScheduleNotFound(name)
        return found

    async def delete(self, name: str) -> None:
        if not await self._store.delete(validate_schedule_name(name)):
            raise ScheduleNotFound(name)
        log.info("schedule %s removed", name)

    async def pause(self, name: str) -> Schedule:
        """No tick fires once this returns, on any instance, until resumed."""
        return await self._change(name, lambda s, now: s.paused_at(now))

    async def resume(self, name: str) -> Schedule:
        """Fires again from its first tick after now (the ticks while paused never fire)."""
        return await self._change(name, lambda s, now: s.resumed_at(now))

    async def _change(self, name: str, change: Callable[[Schedule, float], Schedule]) -> Schedule:
        validate_schedule_name(name)
        for _ in range(WRITE_ATTEMPTS):
            current = await self._store.get(name)
            if current is None:
                raise ScheduleNotFound(name)
            changed = change(current, self._clock.now())
            if changed is current or await self._store.put(changed, current.version):
                if not changed.paused:
                    self.loop.poke(changed.next_due)
                return changed
        raise _busy(name)

    # -- the fire loop ---------------------------------------------------------

    async def fire_due(self) -> float | None:
        """Fire every schedule whose tick has come; returns when to look again."""
        now = self._clock.now()
        due = await self._store.due(now, FIRE_BATCH)
        failed = False
        for schedule in due:
            try:
                await self._fire(schedule, now)
            except StorageUnavailable:
                raise  # the loop backs off
            except Exception:  # one schedule that cannot fire must not stop the others
                log.exception(
                    "schedule %s: cannot fire; trying again in %.0f s", schedule.name, REREAD_SECONDS
                )
                failed = True
        if len(due) == FIRE_BATCH and not failed:
            return now  # more may be due
        upcoming = await self._store.next_due()
        reread = self._clock.now() + REREAD_SECONDS
        # After a failure the earliest tick is the failed schedule's, still due: not it, or
        # the loop would spin on it.
        return reread if upcoming is None or failed else min(upcoming, reread)

    async def _fire(self, schedule: Schedule, now: float) -> None:
        firing = schedule.firing(now, self._grace)
        jobs: list[Job] = []
        if firing.due is not None:
            spec = schedule.job_spec(firing.due, self._policy.job_timeout_seconds)
            jobs.append(Job.new(self._ids.new(now), spec, now))
        fire = Fire(schedule.version, schedule.fired(firing, now), jobs)
        holders = await self._store.fire(fire, self._policy.idempotency_seconds)
        if holders is None:
            return  # another instance fired it first, or it was changed meanwhile
        created = [job for job, holder in zip(jobs, holders, strict=True) if holder == job.id]
        self._metrics.enqueued(created)
        for job in created:
            log_state(job, "job enqueued")
        await self._ready.offer(created, self._clock.now())
        if firing.due is None:
            log.info(
                "schedule %s: missed tick %s skipped (catch_up is off), next %s",
                schedule.name, instant(schedule.next_due), instant(firing.next_due),
            )  # fmt: skip
        elif firing.due < now - self._grace:
            log.info(
                "schedule %s: one job for the ticks missed since %s, next %s",
                schedule.name, instant(firing.due), instant(firing.next_due),
            )  # fmt: skip


def _busy(name: str) -> IllegalTransition:
    return IllegalTransition(
        f"schedule {name!r} changed {WRITE_ATTEMPTS} times while this call ran; send it again"
    )
