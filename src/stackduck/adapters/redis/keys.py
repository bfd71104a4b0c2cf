"""Every Redis key Stackduck uses, built here and only here.

Keys of one job type share a hash tag (``{...}``), so on Redis Cluster they live
in one slot and a script can touch them together. Job types are percent-encoded
in keys, so a type containing braces or colons cannot break the tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from stackduck.domain.job import JobStatus


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "stackduck"

    # -- the ready queue, per job type (one slot each) -------------------------

    def _type(self, job_type: str) -> str:
        return f"{self.prefix}:{{{quote(job_type, safe='')}}}"

    def ready(self, job_type: str) -> str:
        """Sorted set of due jobs: score priority·10¹³ + run_at in ms, member job id."""
        return f"{self._type(job_type)}:ready"

    def scheduled(self, job_type: str) -> str:
        """Sorted set of jobs waiting for their time: score run_at, member "priority|id"."""
        return f"{self._type(job_type)}:scheduled"

    def running(self, job_type: str) -> str:
        """Set of the ids of the type's running jobs: what a concurrency limit counts.
        Every script that moves a job into or out of running adds or removes it (SADD and
        SREM: a move repeated cannot make it drift); ``put_limit.lua`` rebuilds it from
        ``status:running``, for data written before it was kept. A grouped job is also in
        its group's set (:meth:`group_running`) and in :meth:`running_grouped`."""
        return f"{self._type(job_type)}:running"

    @property
    def running_around(self) -> tuple[str, str]:
        """What a type's running set key has before and after its encoded type, for the
        scripts that learn a job's type from its hash (complete.lua, delete.lua), which
        encode it as :meth:`_type` does (``_type_key.lua``)."""
        return f"{self.prefix}:{{", "}:running"

    # -- fair groups, per job type (ADR 0029) -------------------------------------
    # A group's name may hold any character but NUL: it is percent-encoded as types are.
    # A key of a group is that key of the group "" followed by the encoded name, which is
    # how the claim builds it for groups it finds in the turns.

    def group(self, job_type: str, priority: int, group: str) -> str:
        """Sorted set of a group's queued jobs of one priority (due and later together):
        score run_at (seconds), member job id. The group "" has none: the type's
        ungrouped jobs stay in its ready set."""
        return f"{self._type(job_type)}:group:{priority}:{quote(group, safe='')}"

    def turns(self, job_type: str, priority: int) -> str:
        """Sorted set of the groups of a type with queued jobs of one priority: member the
        group's name, score its turn time (the later of ``served`` and its head's run_at,
        or the end of its parking)."""
        return f"{self._type(job_type)}:turns:{priority}"

    def served(self, job_type: str, priority: int) -> str:
        """Hash of when a claim last took a job of each group in the turns of a priority
        (field "" too: the type's ungrouped jobs)."""
        return f"{self._type(job_type)}:served:{priority}"

    def parked(self, job_type: str) -> str:
        """Hash of the groups passed over at their group_concurrency: until when."""
        return f"{self._type(job_type)}:parked"

    def waking(self, job_type: str) -> str:
        """Sorted set of the type's grouped jobs queued for later (score run_at, member
        id): what the due index and the scheduler's promotion watch for them, as they do
        the scheduled set for ungrouped jobs."""
        return f"{self._type(job_type)}:waking"

    def grouped_queued(self, job_type: str) -> str:
        """Sorted set of the type's queued grouped jobs, scored as the ready set is
        (priority·10¹³ + run_at in ms): what the stats count them by, per priority, due
        or not, as they count the ready and scheduled sets for the ungrouped ones."""
        return f"{self._type(job_type)}:grouped-queued"

    def group_running(self, job_type: str, group: str) -> str:
        """Set of the ids of a (named) group's running jobs: what group_concurrency counts."""
        return f"{self._type(job_type)}:running:{quote(group, safe='')}"

    def running_grouped(self, job_type: str) -> str:
        """Set of the ids of the type's running jobs that have a group: the running of the
        group "" is the type's running set less these."""
        return f"{self._type(job_type)}:running-grouped"

    def of_group(self, job_type: str, priority: int, group: str) -> list[str]:
        """A group's keys in the order the scripts take them (``_groups.lua``), then its
        name and the priority."""
        return [
            self.group(job_type, priority, group),
            self.turns(job_type, priority),
            self.served(job_type, priority),
            self.parked(job_type),
            self.waking(job_type),
            self.running_grouped(job_type),
            self.group_running(job_type, group),
            self.grouped_queued(job_type),
            group,
            str(priority),
        ]

    @property
    def group_running_around(self) -> tuple[str, str]:
        """What a group's running set key has before and after the encoded type (the
        encoded group follows), for the scripts that learn both from a job's hash."""
        return f"{self.prefix}:{{", "}:running:"

    @property
    def running_grouped_around(self) -> tuple[str, str]:
        """What :meth:`running_grouped` has before and after the encoded type."""
        return f"{self.prefix}:{{", "}:running-grouped"

    @property
    def grouped(self) -> str:
        """Set of the job types that have (or had) a job in a group."""
        return f"{self.prefix}:grouped"

    @property
    def types(self) -> str:
        """Set of every job type that has had a queue."""
        return f"{self.prefix}:types"

    @property
    def due(self) -> str:
        """Sorted set of the job types whose scheduled set holds entries: score no later
        than the type's earliest one (the scheduler looks at the types due, no others)."""
        return f"{self.prefix}:due"

    @property
    def due_indexed(self) -> str:
        """Present once every type scheduled before the due index existed is marked in it
        (gone after a flush, or in data restored from before it: then it is built again)."""
        return f"{self.prefix}:due-indexed"

    @property
    def seeded(self) -> str:
        """Present while the ready queue holds what the record holds (gone after a flush)."""
        return f"{self.prefix}:seeded"

    @property
    def sweep_turn(self) -> str:
        """Present while one instance holds the current turn of the periodic reconcile sweep."""
        return f"{self.prefix}:sweep-turn"

    @property
    def channel(self) -> str:
        """Pub/sub channel of wake-ups between server instances."""
        return f"{self.prefix}:ready"

    # -- the job store (Redis alone) --------------------------------------------

    @property
    def job_prefix(self) -> str:
        """What a job's hash key is made of, before its id (scripts build keys from ids)."""
        return f"{self.prefix}:job:"

    def job(self, job_id: str) -> str:
        return f"{self.job_prefix}{job_id}"

    def idempotency(self, job_type: str, key: str) -> str:
        """Hash of the job that holds an idempotency key of a type (field ``job``) and the
        end of its window (``until``, Unix seconds). No expiry while the job is kept; when
        it is deleted, the hash expires at ``until`` (at once if that has passed). In the
        type's slot, after its tag: the key may hold any character but NUL."""
        return f"{self._type(job_type)}:idem:{key}"

    def status(self, status: JobStatus) -> str:
        """Sorted set (all scores 0, so ordered by id) of the jobs in one state."""
        return f"{self.prefix}:status:{status.value}"

    @property
    def leases(self) -> str:
        """Running jobs by lease deadline."""
        return f"{self.prefix}:leases"

    @property
    def all_jobs(self) -> str:
        """Every job (all scores 0, so ordered by id)."""
        return f"{self.prefix}:jobs"

    @property
    def finished(self) -> str:
        """Finished jobs (completed, dead, cancelled) by the time they finished."""
        return f"{self.prefix}:finished"

    @property
    def paused(self) -> str:
        """Set of paused job types."""
        return f"{self.prefix}:paused"

    def minute(self, minute: int) -> str:
        """Hash of one minute's counts for the charts (Redis alone), field ``<count>:<job
        type>``; every minute in one slot (``{history}``), so one script adds to several."""
        return f"{self.prefix}:{{history}}:{minute}"

    # -- periodic schedules (Redis alone) ------------------------------------------

    def schedule(self, name: str) -> str:
        """Hash of one schedule: its job, rule, next tick, version (names are letters,
        digits, '.', '_' and '-')."""
        return f"{self.prefix}:schedule:{name}"

    @property
    def schedules(self) -> str:
        """Set of every schedule's name."""
        return f"{self.prefix}:schedules"

    @property
    def schedules_due(self) -> str:
        """Sorted set of the schedules not paused, scored by their next tick."""
        return f"{self.prefix}:schedules-due"

    # -- limits per job type ----------------------------------------------------------

    def limit(self, job_type: str) -> str:
        """Hash of a type's limit (``concurrency``, ``rate``, ``per``, ``burst``,
        ``group_concurrency``) and of its rate's bucket (``tokens`` as of ``at``; absent: a
        full bucket), in the type's slot."""
        return f"{self._type(job_type)}:limit"

    @property
    def limits(self) -> str:
        """Set of the job types that have a limit."""
        return f"{self.prefix}:limits"

    def store_keys(self) -> list[str]:
        """The index keys every store script receives first, in this order."""
        return [
            *(self.status(s) for s in JobStatus),
            self.leases,
            self.finished,
            self.all_jobs,
        ]
