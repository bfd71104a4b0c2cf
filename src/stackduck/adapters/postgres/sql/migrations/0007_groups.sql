-- 0007: fair queues by group (ADR 0029). A job may name a group within its type; a
-- claim of a type that has groups takes the groups in turn (stackduck_groups), and a
-- limit may cap one group's running jobs (group_concurrency).

ALTER TABLE stackduck_jobs ADD COLUMN group_key text NOT NULL DEFAULT '';

-- The ungrouped jobs keep the claim's index; the grouped ones get their own, by group,
-- so every queued job is in exactly one of them.
DROP INDEX stackduck_jobs_ready;
CREATE INDEX stackduck_jobs_ready ON stackduck_jobs (job_type, priority, run_at, id)
    WHERE status = 'queued' AND group_key = '';
CREATE INDEX stackduck_jobs_grouped ON stackduck_jobs (job_type, priority, group_key, run_at, id)
    WHERE status = 'queued' AND group_key <> '';
DROP INDEX stackduck_jobs_running;
CREATE INDEX stackduck_jobs_running ON stackduck_jobs (job_type, group_key) WHERE status = 'running';

ALTER TABLE stackduck_limits ADD COLUMN group_concurrency integer NOT NULL DEFAULT 0
    CHECK (group_concurrency >= 0);
ALTER TABLE stackduck_limits DROP CONSTRAINT stackduck_limits_check;
ALTER TABLE stackduck_limits ADD CONSTRAINT stackduck_limits_some
    CHECK (concurrency > 0 OR rate > 0 OR group_concurrency > 0);

-- The turns of a type's groups, per priority: a claim takes the groups whose turn_at
-- has come, earliest first. served_at: when a claim last took one of the group's jobs;
-- head_at: the due time of its earliest queued job of that priority; parked_until: a
-- group at its group_concurrency waits until then, or until one of its jobs ends.
-- The group '' (a grouped type's ungrouped jobs) has a row per priority from the type's
-- first grouped job on, never deleted (it marks the type as grouped): its served_at and
-- parked_until; its head_at is infinity, its head being the ready index's.
CREATE TABLE stackduck_groups (
    job_type     text NOT NULL,
    priority     smallint NOT NULL,
    group_key    text NOT NULL,
    served_at    double precision NOT NULL DEFAULT 0,
    head_at      double precision NOT NULL,
    parked_until double precision NOT NULL DEFAULT 0,
    turn_at      double precision GENERATED ALWAYS AS (greatest(served_at, head_at, parked_until)) STORED,
    PRIMARY KEY (job_type, priority, group_key)
);
-- The claim's scan, by turn, of the named groups only. Partial, so that no lookup by key
-- (which names no turn) can take it for the primary key when the planner has no
-- statistics yet: it would read every group of the type and priority.
CREATE INDEX stackduck_groups_turn ON stackduck_groups (job_type, priority, turn_at)
    WHERE group_key <> '';
