"""Periodic schedules: a named job template and a rule for when it fires, and the pure
arithmetic of its ticks (ADR 0027).

Every time is a Unix second in UTC, as everywhere in Stackduck. A *tick* is one time
a schedule fires. Its rule is either

* ``cron``: a standard 5-field expression (minute hour day-of-month month
  day-of-week) read in the schedule's IANA time zone, with the semantics of Debian's
  cron (cronsim): across a DST change a job at a fixed time fires once (at the jump
  when spring skips it, at its first occurrence when autumn repeats it), while a job
  with a step in its minute or hour field fires at every real instant it matches; or
* ``every``: N whole seconds, the ticks being the multiples of N since
  1970-01-01T00:00:00Z, so they never drift and every instance agrees on them.

Each tick enqueues at most one job, whose idempotency key names the schedule and the
tick's UTC instant (:meth:`Schedule.key`). A tick late by more than
:data:`GRACE_SECONDS` counts as missed (the server was down): a schedule with
``catch_up`` fires one job for all its missed ticks, one without skips them. Either
way the next tick is the first one after now: never one job per missed tick.

cronsim is the one library the domain imports: pure date arithmetic, no I/O and no
dependencies of its own (ADR 0027 says why it is not behind a port).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from stackduck.domain.errors import InvalidJob, quoted
from stackduck.domain.rules import JobSpec

MAX_SCHEDULE_NAME_LENGTH = 128
#: The longest period of an ``every`` schedule: 366 days, as for a job scheduled ahead.
MAX_EVERY_SECONDS = 366 * 24 * 3600
MAX_CRON_LENGTH = 255
#: A tick fired at most this late is on time; later, it was missed (downtime), and only a
#: schedule with catch_up fires for it.
GRACE_SECONDS = 30.0
#: cronsim may answer a time before the start inside a repeated (autumn) hour; never
#: more than a few such answers come in a row.
_MAX_STEPS = 1000
CRON_SHAPE = "minute hour day-of-month month day-of-week, such as '0 3 * * *' or '*/15 * * * *'"
_NAME = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)


def validate_schedule_name(name: str) -> str:
    if not 1 <= len(name) <= MAX_SCHEDULE_NAME_LENGTH or _NAME.fullmatch(name) is None:
        raise InvalidJob(
            f"schedule name must be 1 to {MAX_SCHEDULE_NAME_LENGTH} characters of letters, digits, "
            f"'.', '_' and '-'; got {quoted(name)}"
        )
    return name


@dataclass(frozen=True, slots=True)
class Rule:
    """When a schedule fires: ``cron`` in ``timezone``, or ``every`` seconds."""

    cron: str = ""
    every: int = 0
    timezone: str = "UTC"

    @classmethod
    def of(cls, cron: str, every: int, timezone: str, now: float) -> Rule:
        """A rule from a client's values ("" / 0 = not given; "" time zone = UTC), or
        :class:`InvalidJob` saying what to fix (a cron expression must fire after ``now``)."""
        if cron and every:
            raise InvalidJob("give cron or every, not both")
        if not cron and not every:
            raise InvalidJob(f"give cron (a 5-field expression: {CRON_SHAPE}) or every (seconds, at least 1)")
        zone = timezone or "UTC"
        _zone(zone)
        if every:
            if not 1 <= every <= MAX_EVERY_SECONDS:
                raise InvalidJob(f"every must be 1 to {MAX_EVERY_SECONDS} seconds; got {every}")
            return cls(every=every, timezone=zone)
        rule = cls(cron=_cron(cron, now), timezone=zone)
        try:
            rule.next_after(now)
        except _NeverFires:
            raise InvalidJob(f"cron {quoted(cron)} never fires (no such date within 50 years)") from None
        return rule

    def next_after(self, after: float) -> float:
        """The first tick strictly after ``after``."""
        if self.every:
            return float((int(after // self.every) + 1) * self.every)
        zone = UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)
        ticks = CronSim(self.cron, datetime.fromtimestamp(after, UTC).astimezone(zone))
        for _ in range(_MAX_STEPS):
            try:
                tick = next(ticks).timestamp()
            except StopIteration:
                raise _NeverFires from None
            # Compared in UTC: inside a repeated hour cronsim works on wall time and may
            # answer the hour's first occurrence, before the start (an aware comparison in
            # the zone ignores the fold and would take it).
            if tick > after:
                return tick
        raise _NeverFires

    def describe(self) -> str:
        if self.every:
            return f"every {self.every} s"
        zone = "" if self.timezone == "UTC" else f" ({self.timezone})"
        return f"cron {self.cron}{zone}"


class _NeverFires(Exception):
    """No tick follows (within cronsim's 50 years)."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise InvalidJob(
            f"timezone must be an IANA time zone name such as UTC or Europe/Berlin; got {quoted(name)}"
        ) from None


def _cron(expression: str, now: float) -> str:
    fields = expression.split()
    if len(expression) > MAX_CRON_LENGTH or len(fields) != 5:
        raise InvalidJob(f"cron must be 5 fields ({CRON_SHAPE}); got {len(fields)} in {quoted(expression)}")
    try:
        CronSim(expression, datetime.fromtimestamp(now, UTC))
    except CronSimError as exc:
        raise InvalidJob(f"cron {quoted(expression)}: {str(exc).lower()} field ({CRON_SHAPE})") from None
    return " ".join(fields)


def instant(moment: float) -> str:
    """A tick as its UTC RFC 3339 text (ticks are whole seconds): 2025-10-26T00:30:00Z."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Firing:
    """What one fire step does: enqueue a job for tick ``due`` (None: none, the missed
    ticks are skipped), then wait for ``next_due``."""

    due: float | None
    next_due: float


@dataclass(frozen=True, slots=True)
class Schedule:
    """A named schedule: the job it enqueues (as validated; ``timeout`` 0 = the
    server's default when it fires), its rule, and where it stands."""

    name: str
    job_type: str
    payload: str
    priority: int
    delay: int
    max_retries: int
    timeout: float
    metadata: str  # a JSON object text; "" = none
    rule: Rule
    catch_up: bool
    paused: bool
    #: The next tick to fire (while paused: stale; resuming sets it again).
    next_due: float
    #: The tick of the last job enqueued; None = never fired.
    last_run: float | None
    #: Bumped by every write: a write lands only over the version it was made from.
    version: int
    created_at: float
    updated_at: float
    group_key: str = ""  # the fair-queue group of the jobs it enqueues; "" = none

    @classmethod
    def new(cls, name: str, spec: JobSpec, rule: Rule, catch_up: bool, now: float) -> Schedule:
        return cls(
            name=validate_schedule_name(name),
            job_type=spec.job_type,
            payload=spec.payload,
            priority=spec.priority,
            delay=spec.delay,
            max_retries=spec.max_retries,
            timeout=spec.timeout,
            metadata=spec.metadata,
            rule=rule,
            catch_up=catch_up,
            paused=False,
            next_due=rule.next_after(now),
            last_run=None,
            version=1,
            created_at=now,
            updated_at=now,
            group_key=spec.group_key,
        )

    def replaced_by(self, new: Schedule, now: float) -> Schedule:
        """This schedule redefined as ``new``: a pause stays, and so does the next tick when
        the rule is the same (redefining at every start of an app loses no tick)."""
        next_due = self.next_due if new.rule == self.rule else new.rule.next_after(now)
        return replace(
            new,
            paused=self.paused,
            next_due=next_due,
            last_run=self.last_run,
            version=self.version + 1,
            created_at=self.created_at,
        )

    def paused_at(self, now: float) -> Schedule:
        return replace(self, paused=True, version=self.version + 1, updated_at=now)

    def resumed_at(self, now: float) -> Schedule:
        """Running again from the first tick after now: ticks while paused never fire."""
        if not self.paused:
            return self
        return replace(
            self, paused=False, next_due=self.rule.next_after(now), version=self.version + 1, updated_at=now
        )

    def firing(self, now: float, grace: float = GRACE_SECONDS) -> Firing:
        """What to do at ``now`` (at or past ``next_due``): fire the tick if it is on time
        or the schedule catches up, then go on from the first tick after now."""
        on_time = now - self.next_due <= grace
        due = self.next_due if on_time or self.catch_up else None
        return Firing(due, self.rule.next_after(max(now, self.next_due)))

    def fired(self, firing: Firing, now: float) -> Schedule:
        """This schedule once ``firing`` is done."""
        last_run = firing.due if firing.due is not None else self.last_run
        return replace(
            self, next_due=firing.next_due, last_run=last_run, version=self.version + 1, updated_at=now
        )

    def key(self, due: float) -> str:
        """The idempotency key of the job for tick ``due``: one job per tick, whoever fires it."""
        return f"schedule:{self.name}:{instant(due)}"

    def job_spec(self, due: float, default_timeout: float) -> JobSpec:
        """The job tick ``due`` enqueues: due at the tick."""
        return JobSpec(
            job_type=self.job_type,
            payload=self.payload,
            priority=self.priority,
            delay=self.delay,
            max_retries=self.max_retries,
            run_at=due,
            idempotency_key=self.key(due),
            timeout=self.timeout or default_timeout,
            metadata=self.metadata,
            group_key=self.group_key,
        )
