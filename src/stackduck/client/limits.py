"""Concurrency and rate limits per job type from the client: set, list and clear them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from stackduck.domain.errors import InvalidJob
from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb


@dataclass(frozen=True, slots=True)
class LimitInfo:
    """A job type's limits as the server reports them, and how they stand now. The
    counts are across every server instance on the storage."""

    job_type: str
    concurrency: int | None  # jobs of the type running at once; None: no such limit
    rate: float | None  # starts per ``per`` seconds; None: no rate limit
    per: float  # the rate's period, seconds
    burst: int | None  # starts the bucket allows at once; None without a rate
    running: int  # the type's jobs running now
    tokens: float | None  # starts the bucket allows now; None without a rate
    group_concurrency: int | None = None  # jobs of one group running at once; None: no such limit

    @classmethod
    def from_pb(cls, status: pb.LimitStatus) -> LimitInfo:
        rated = status.rate > 0
        return cls(
            job_type=status.job_type,
            concurrency=status.concurrency or None,
            rate=status.rate if rated else None,
            per=status.per,
            burst=status.burst if rated else None,
            running=status.running,
            tokens=status.tokens if status.HasField("tokens") else None,
            group_concurrency=status.group_concurrency or None,
        )


class _Caller(Protocol):
    async def _call(self, rpc: str, request: Any, job_id: str = "") -> Any: ...


class LimitCalls:
    """Mixed into :class:`AsyncClient` (which makes the calls): limits per job type."""

    async def set_limit(
        self: _Caller,
        job_type: str,
        *,
        concurrency: int | None = None,
        rate: float | None = None,
        per: float | timedelta = 1.0,
        burst: int | None = None,
        group_concurrency: int | None = None,
    ) -> LimitInfo:
        """Create or replace ``job_type``'s limit; returns it as stored.

        ``concurrency``: at most this many of its jobs running at once, counted across
        every server instance. ``rate``: at most this many starts per ``per`` seconds (a
        number or a timedelta), through a token bucket of ``burst`` starts (None: the
        rate rounded up); over any window of t seconds at most ``burst + rate * t / per``
        jobs start. ``group_concurrency``: at most this many of one group's jobs running at
        once (see ``enqueue(group=)``); a full group is passed over while the others take
        their turns. Give at least one of the three. The call sets the
        whole limit: what is not given is not limited, whatever the type had before.
        Jobs over the limit wait queued, in their order, and start as room comes; a
        refused value is :class:`InvalidJob` saying what to fix.
        """
        request = pb.SetLimitRequest(job_type=job_type)
        try:
            request.concurrency = _count("concurrency", concurrency, "no limit on running jobs")
            request.burst = _count("burst", burst, "the rate rounded up")
            request.group_concurrency = _count(
                "group_concurrency", group_concurrency, "no limit on one group's running jobs"
            )
            if rate is not None:
                request.rate = _positive("rate", rate)
            seconds = per.total_seconds() if isinstance(per, timedelta) else per
            # The period goes with a rate; one given without a rate is sent so that the
            # server refuses it, rather than dropped without a word.
            if rate is not None or seconds != 1.0:
                request.per = _positive("per", seconds)
        except (TypeError, ValueError) as exc:  # out of the wire's range
            raise InvalidJob(f"cannot send a limit on {job_type!r}: {exc}") from exc
        return LimitInfo.from_pb(await self._call("SetLimit", request))

    async def limits(self: _Caller) -> list[LimitInfo]:
        """Every limit, by job type, with its running jobs and its bucket's tokens now."""
        reply = await self._call("ListLimits", pb.ListLimitsRequest())
        return [LimitInfo.from_pb(status) for status in reply.limits]

    async def clear_limit(self: _Caller, job_type: str) -> bool:
        """Remove ``job_type``'s limit: its held jobs start at once. False if it had none."""
        reply = await self._call("ClearLimit", pb.ClearLimitRequest(job_type=job_type))
        return bool(reply.cleared)


def _count(name: str, value: int | None, none_means: str) -> int:
    """A whole number of at least 1, or None sent as the wire's 0. A 0 is refused here:
    the server would read it as "not given" and lift the limit instead."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidJob(
            f"{name} must be a whole number, at least 1 (leave it out for {none_means}); got {value!r}"
        )
    return value


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidJob(f"{name} must be a number above 0; got {value!r}")
    return float(value)
