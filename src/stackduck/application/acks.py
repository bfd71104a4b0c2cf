"""What workers answer about the jobs they hold: complete, fail, retry, heartbeat.

Who may answer is decided by the lease. A request names the job and, to be
safe against stale answers, the lease token of the delivery it answers and/or
the worker id; a bare job id (what seed clients send) acts on the current
lease, whoever holds it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from stackduck.application.consumers import ConsumerRegistry
from stackduck.application.group_commit import GroupCommit
from stackduck.application.moves import Move, Outcome, apply_moves, log_state
from stackduck.application.policy import QueuePolicy
from stackduck.application.ports import Clock, Completion, JobStore, Metrics, Signals
from stackduck.application.ready_path import ReadyPath
from stackduck.domain.job import Job
from stackduck.domain.rules import validate_result

MAX_ERROR_MESSAGE_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class Ack:
    job_id: str
    worker_id: str | None = None
    lease_token: int | None = None
    result: str | None = None  # a completion's JSON result, checked by the caller


@dataclass(frozen=True, slots=True)
class _Answer:
    """One answer waiting for the next write: its move, or a completion (the complete
    move in the form a store can write without reading first; the move itself is made
    only for the few that need the read path)."""

    job_id: str
    move: Move | None = None
    completion: Completion | None = None

    def as_move(self) -> Move:
        if self.move is not None:
            return self.move
        assert self.completion is not None
        c = self.completion
        return partial(Job.complete, worker_id=c.worker_id, token=c.token, now=c.now, result=c.result)


@dataclass(frozen=True, slots=True)
class Failure:
    job_id: str
    error_message: str = ""
    worker_id: str | None = None
    lease_token: int | None = None
    retry: bool = True
    retry_in: float | None = None  # seconds until the retry, instead of the backoff


class Acks:
    def __init__(
        self,
        store: JobStore,
        ready: ReadyPath,
        consumers: ConsumerRegistry,
        signals: Signals,
        metrics: Metrics,
        clock: Clock,
        policy: QueuePolicy,
    ) -> None:
        self._store = store
        self._signals = signals
        self._metrics = metrics
        self._ready = ready
        self._consumers = consumers
        self._clock = clock
        self._policy = policy
        self._commit: GroupCommit[_Answer, Outcome] = GroupCommit(self._write)
        # Heartbeats share writes too (a thousand workers beating each of their jobs): one
        # read and one compare-and-set write for all that arrived while the last ran, apart
        # from answers (a beaten job stays held and is not offered anywhere).
        self._beats: GroupCommit[tuple[str, Move], Outcome] = GroupCommit(partial(apply_moves, store))

    async def complete(self, acks: Sequence[Ack]) -> list[Outcome]:
        """Each job is completed with its result, if any (every result is checked
        first: one that breaks a rule refuses them all, and nothing is written)."""
        for a in acks:
            validate_result(a.result, self._policy.max_payload_bytes)
        now = self._clock.now()
        answers = [
            _Answer(a.job_id, completion=Completion(a.job_id, a.worker_id, a.lease_token, now, a.result))
            for a in acks
        ]
        settled, outcomes = await self._settle(answers)
        self._metrics.completed(settled, now)
        return outcomes

    async def fail(self, failures: Sequence[Failure]) -> list[Outcome]:
        """Each failure is retried after its backoff while retries remain, else dead-lettered."""
        now = self._clock.now()
        policy = self._policy.retry
        answers = [
            _Answer(
                f.job_id,
                partial(
                    Job.fail,
                    worker_id=f.worker_id,
                    token=f.lease_token,
                    now=now,
                    error_message=f.error_message[:MAX_ERROR_MESSAGE_LENGTH],
                    policy=policy,
                    unit_random=self._clock.random(),
                    retry=f.retry,
                    retry_in=f.retry_in,
                ),
            )
            for f in failures
        ]
        settled, outcomes = await self._settle(answers)
        self._metrics.failed(settled, now)
        return outcomes

    async def heartbeat(self, acks: Sequence[Ack]) -> list[Outcome]:
        """Extend each lease by the configured lease time from now."""
        now = self._clock.now()
        lease = self._policy.lease_seconds
        moves: list[tuple[str, Move]] = [
            (
                a.job_id,
                partial(
                    Job.heartbeat, worker_id=a.worker_id, token=a.lease_token, now=now, lease_seconds=lease
                ),
            )
            for a in acks
        ]
        outcomes = await self._beats.submit(moves)
        beaten = [o.job.id for o in outcomes if o.job is not None]
        self._consumers.seen(beaten, now)
        self._signals.changed(beaten)
        return outcomes

    async def _settle(self, answers: Sequence[_Answer]) -> tuple[list[Job], list[Outcome]]:
        outcomes = await self._commit.submit(answers)
        return [outcome.job for outcome in outcomes if outcome.job is not None], outcomes

    async def _write(self, answers: list[_Answer]) -> list[Outcome]:
        """Every answer that arrived while the previous write ran, in one or two round
        trips: completions of distinct jobs in one write without a read (the common
        case), then the rest (failures, refusals, a job answered twice) through a read
        and a compare-and-set write, in arrival order."""
        outcomes: list[Outcome | None] = [None] * len(answers)
        answered = Counter(answer.job_id for answer in answers)
        direct = [
            (i, a.completion) for i, a in enumerate(answers) if a.completion and answered[a.job_id] == 1
        ]
        if direct:
            completed = await self._store.complete([completion for _, completion in direct])
            for (i, _), job in zip(direct, completed, strict=True):
                if job is not None:
                    outcomes[i] = Outcome(job)
                    log_state(job)
        rest = [i for i, outcome in enumerate(outcomes) if outcome is None]
        if rest:
            judged = await apply_moves(self._store, [(answers[i].job_id, answers[i].as_move()) for i in rest])
            for i, outcome in zip(rest, judged, strict=True):
                outcomes[i] = outcome
        done = [outcome for outcome in outcomes if outcome is not None]
        settled = [outcome.job for outcome in done if outcome.job is not None]
        now = self._clock.now()
        self._consumers.done((job.id for job in settled), now)
        self._signals.changed(job.id for job in settled)
        await self._ready.offer(settled, now)
        return done
