"""Periodic schedules from the client: define, list, pause, resume and remove them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import grpc

from stackduck.client.jobs import NewJob, Payload, moment, parse_json
from stackduck.domain.errors import InvalidJob, JobNotFound, ScheduleNotFound
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A schedule as the server reports it. Its rule is ``cron`` (in ``timezone``) or
    ``every`` seconds; times are timezone-aware UTC datetimes, or None."""

    name: str
    job_type: str
    cron: str | None
    every: int | None  # seconds
    timezone: str
    catch_up: bool  # one job for the ticks missed while the servers were down
    paused: bool
    next_run: datetime | None  # the next tick; None while paused
    last_run: datetime | None  # the tick of the last job it enqueued; None: none yet
    payload: Any  # the jobs' payload, parsed from JSON
    raw_payload: str
    priority: int
    delay: int
    max_retries: int
    timeout: float | None  # per attempt, seconds; None: the server's default
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    group: str | None = None  # the fair-queue group of the jobs it enqueues

    @property
    def rule(self) -> str:
        """The rule in words: ``cron 0 3 * * * (Europe/Berlin)`` or ``every 60 s``."""
        if self.every:
            return f"every {self.every} s"
        zone = "" if self.timezone == "UTC" else f" ({self.timezone})"
        return f"cron {self.cron}{zone}"

    @classmethod
    def from_pb(cls, schedule: pb.Schedule) -> ScheduleInfo:
        return cls(
            name=schedule.name,
            job_type=schedule.job_type,
            cron=schedule.cron or None,
            every=schedule.every_seconds or None,
            timezone=schedule.timezone,
            catch_up=schedule.catch_up,
            paused=schedule.paused,
            next_run=moment(schedule.next_run_at),
            last_run=moment(schedule.last_run_at),
            payload=parse_json(schedule.payload),
            raw_payload=schedule.payload,
            priority=schedule.priority,
            delay=schedule.delay,
            max_retries=schedule.max_retries,
            timeout=schedule.timeout_seconds or None,
            metadata=dict(schedule.metadata),
            created_at=moment(schedule.created_at),
            updated_at=moment(schedule.updated_at),
            group=schedule.group or None,
        )


class _Caller(Protocol):
    async def _call(self, rpc: str, request: Any, job_id: str = "") -> Any: ...


async def _named(client: _Caller, rpc: str, request: Any, name: str) -> Any:
    """A call about one schedule: NOT_FOUND is :class:`ScheduleNotFound`."""
    try:
        return await client._call(rpc, request)
    except JobNotFound as exc:  # what NOT_FOUND reads as, for a job
        cause = exc.__cause__
        if isinstance(cause, grpc.aio.AioRpcError) and cause.code() is grpc.StatusCode.NOT_FOUND:
            error = ScheduleNotFound(name)
            error.args = exc.args  # the server's words
            raise error from cause
        raise


def _every(every: int | float | timedelta | None) -> int:
    if every is None:
        return 0
    seconds = every.total_seconds() if isinstance(every, timedelta) else every
    whole = isinstance(seconds, int | float) and not isinstance(seconds, bool) and math.isfinite(seconds)
    if not whole or seconds != int(seconds) or seconds < 1:
        raise InvalidJob(f"every must be a whole number of seconds, at least 1; got {every!r}")
    return int(seconds)


class ScheduleCalls:
    """Mixed into :class:`AsyncClient` (which makes the calls): periodic schedules."""

    async def schedule(
        self: _Caller,
        name: str,
        job_type: str,
        payload: Payload = "{}",
        *,
        cron: str | None = None,
        every: int | float | timedelta | None = None,
        timezone: str = "UTC",
        catch_up: bool = True,
        priority: int | None = None,
        delay: int | None = None,
        max_retries: int | None = None,
        retry_limit: int | None = None,
        timeout: float | timedelta | None = None,  # noqa: ASYNC109 - the jobs', not this call's
        metadata: Mapping[str, str] | None = None,
        group: str | None = None,
    ) -> ScheduleInfo:
        """Create the schedule ``name``, or replace the one of that name; returns it.

        Each tick enqueues one ``job_type`` job with ``payload`` (and the enqueue options
        ``priority``, ``delay``, ``max_retries`` / ``retry_limit``, ``timeout``,
        ``metadata``, ``group``, as :meth:`AsyncClient.enqueue` takes them), however many server
        instances run. The rule: ``cron``, a 5-field expression (``"0 3 * * *"``) read in
        ``timezone`` (an IANA name), or ``every`` N seconds (an int or a timedelta; ticks
        at the multiples of N since 1970-01-01 UTC); exactly one of them. ``catch_up``: a
        tick missed while the servers were down (more than 30 s late) gets one job for all
        of them; False skips them. Replacing keeps a pause, and the next tick when the
        rule is unchanged: calling this at every start of an app loses no tick.
        """
        template = NewJob(
            job_type,
            payload,
            priority=priority,
            delay=delay,
            max_retries=max_retries,
            retry_limit=retry_limit,
            timeout=timeout,
            metadata=metadata,
            group=group,
        ).to_pb()
        request = pb.PutScheduleRequest(
            name=name,
            job=template,
            cron=cron or "",
            every_seconds=_every(every),
            timezone=timezone,
            catch_up=catch_up,
        )
        reply = await self._call("PutSchedule", request)
        return ScheduleInfo.from_pb(reply.schedule)

    async def schedules(self: _Caller) -> list[ScheduleInfo]:
        """Every schedule, by name."""
        reply = await self._call("ListSchedules", pb.ListSchedulesRequest())
        return [ScheduleInfo.from_pb(s) for s in reply.schedules]

    async def get_schedule(self: _Caller, name: str) -> ScheduleInfo:
        """The schedule ``name`` (:class:`ScheduleNotFound` when none has it)."""
        reply = await _named(self, "GetSchedule", pb.ScheduleName(name=name), name)
        return ScheduleInfo.from_pb(reply.schedule)

    async def unschedule(self: _Caller, name: str) -> None:
        """Remove a schedule (:class:`ScheduleNotFound` when none has the name); the jobs it
        enqueued stay."""
        await _named(self, "DeleteSchedule", pb.ScheduleName(name=name), name)

    async def pause_schedule(self: _Caller, name: str) -> ScheduleInfo:
        """No tick fires, on any instance, once this returns, until resumed."""
        reply = await _named(self, "PauseSchedule", pb.ScheduleName(name=name), name)
        return ScheduleInfo.from_pb(reply.schedule)

    async def resume_schedule(self: _Caller, name: str) -> ScheduleInfo:
        """Fires again from its first tick after now (the ticks while paused never fire)."""
        reply = await _named(self, "ResumeSchedule", pb.ScheduleName(name=name), name)
        return ScheduleInfo.from_pb(reply.schedule)
