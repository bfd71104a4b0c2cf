-- The canonical schema: what applying every migration in migrations/ produces.
-- tests/integration/postgres/test_migrations.py checks that the two agree.

CREATE TABLE stackduck_jobs (
    id               uuid PRIMARY KEY,
    job_type         text NOT NULL,
    payload          text NOT NULL,
    priority         smallint NOT NULL CHECK (priority BETWEEN 1 AND 3),
    delay            integer NOT NULL CHECK (delay >= 0),
    max_retries      integer NOT NULL CHECK (max_retries >= 0),
    status           text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    -- Times are Unix seconds, as the domain keeps them (double precision keeps microseconds).
    run_at           double precision NOT NULL,
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL,
    retry_count      integer NOT NULL DEFAULT 0,
    attempt          integer NOT NULL DEFAULT 0,
    error_message    text NOT NULL DEFAULT '',
    started_at       double precision,
    completed_at     double precision,
    lease_owner      text,
    lease_expires_at double precision,
    version          bigint NOT NULL DEFAULT 0,
    idempotency_key  text NOT NULL DEFAULT '',
    -- Run time allowed per attempt (0 = no limit), and the running attempt's deadline.
    timeout          double precision NOT NULL DEFAULT 0,
    metadata         text NOT NULL DEFAULT '',  -- a JSON object text; '' = none
    result           text,                      -- the JSON text the job completed with
    attempt_deadline double precision,
    -- The ended attempts, the latest 20, each [number, worker_id, started_at, ended_at,
    -- outcome, error] (domain.job.Attempt's fields in order).
    attempts         jsonb NOT NULL DEFAULT '[]',
    -- The fair-queue group within the type; '' = the type's ungrouped jobs.
    group_key        text NOT NULL DEFAULT ''
);

-- The claim: per job type and priority, due ungrouped jobs in (run_at, id) order; the
-- grouped ones per group (every queued job is in exactly one of the two).
CREATE INDEX stackduck_jobs_ready ON stackduck_jobs (job_type, priority, run_at, id)
    WHERE status = 'queued' AND group_key = '';
CREATE INDEX stackduck_jobs_grouped ON stackduck_jobs (job_type, priority, group_key, run_at, id)
    WHERE status = 'queued' AND group_key <> '';
-- The scheduler: the next queued job to fall due.
CREATE INDEX stackduck_jobs_due ON stackduck_jobs (run_at) WHERE status = 'queued';
-- The lease reaper: running jobs by deadline.
CREATE INDEX stackduck_jobs_leases ON stackduck_jobs (lease_expires_at) WHERE status = 'running';
-- A limited claim: the running jobs of a type, and of a group.
CREATE INDEX stackduck_jobs_running ON stackduck_jobs (job_type, group_key) WHERE status = 'running';
-- Listings (dead letters, by status), a page at a time in id order.
CREATE INDEX stackduck_jobs_status ON stackduck_jobs (status, id);
-- The jobs browser's metadata search, over the jobs that have metadata.
CREATE INDEX stackduck_jobs_metadata ON stackduck_jobs USING gin ((metadata::jsonb) jsonb_path_ops)
    WHERE metadata <> '';
-- Retention: finished jobs by the time they finished.
CREATE INDEX stackduck_jobs_finished ON stackduck_jobs (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- Job types whose jobs are held back from delivery.
CREATE TABLE stackduck_paused (
    job_type  text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);

-- Idempotency keys: which job holds each (job_type, key). A row is kept while its job is
-- (job_kept) and until reserved_until (the job's created_at plus the window), whichever
-- is later; an enqueue with the key creates nothing while it stands.
CREATE TABLE stackduck_idempotency (
    job_type       text NOT NULL,
    key            text NOT NULL,
    job_id         uuid NOT NULL,
    reserved_until double precision NOT NULL,
    job_kept       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (job_type, key)
);
-- Retention: keys whose jobs are gone, by the end of their window.
CREATE INDEX stackduck_idempotency_gone ON stackduck_idempotency (reserved_until) WHERE NOT job_kept;

-- Periodic schedules: the job each enqueues, its rule (cron in a time zone, or every N
-- seconds) and its next tick; version guards every write (a fire step's included).
CREATE TABLE stackduck_schedules (
    name          text PRIMARY KEY,
    job_type      text NOT NULL,
    payload       text NOT NULL,
    priority      smallint NOT NULL,
    delay         integer NOT NULL,
    max_retries   integer NOT NULL,
    timeout       double precision NOT NULL,   -- 0 = the server's default at each fire
    metadata      text NOT NULL,               -- a JSON object text; '' = none
    cron          text NOT NULL,               -- '' for an every_seconds schedule
    every_seconds integer NOT NULL,            -- 0 for a cron schedule
    timezone      text NOT NULL,
    catch_up      boolean NOT NULL,
    paused        boolean NOT NULL,
    next_due      double precision NOT NULL,
    last_run      double precision,
    version       bigint NOT NULL,
    created_at    double precision NOT NULL,
    updated_at    double precision NOT NULL,
    group_key     text NOT NULL DEFAULT '',    -- the jobs' fair-queue group; '' = none
    CHECK ((cron <> '') <> (every_seconds > 0))
);
-- The fire loop: the schedules not paused, by next tick.
CREATE INDEX stackduck_schedules_due ON stackduck_schedules (next_due) WHERE NOT paused;

-- Concurrency and rate limits per job type (0 = none), and the rate's token bucket:
-- tokens as counted at counted_at (NULL = a full bucket, never spent).
CREATE TABLE stackduck_limits (
    job_type    text PRIMARY KEY,
    concurrency integer NOT NULL CHECK (concurrency >= 0),
    rate        double precision NOT NULL CHECK (rate >= 0),
    per         double precision NOT NULL CHECK (per > 0),
    burst       integer NOT NULL CHECK (burst >= 0),
    tokens      double precision,
    counted_at  double precision,
    updated_at  double precision NOT NULL,
    group_concurrency integer NOT NULL DEFAULT 0 CHECK (group_concurrency >= 0),
    CONSTRAINT stackduck_limits_some CHECK (concurrency > 0 OR rate > 0 OR group_concurrency > 0)
);

-- The turns of a type's groups, per priority (ADR 0029): a claim takes the groups whose
-- turn_at has come, earliest first. served_at: when a claim last took one of the group's
-- jobs; head_at: the due time of its earliest queued job of that priority; parked_until:
-- a group at its group_concurrency waits until then, or until one of its jobs ends.
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

-- The dashboard's charts: per minute and job type, what every instance counted (added
-- together), and the queue as sampled in that minute; kept for a day.
CREATE TABLE stackduck_minutes (
    minute      bigint NOT NULL,  -- Unix seconds at the minute's start
    job_type    text NOT NULL,
    enqueued    bigint NOT NULL DEFAULT 0,
    completed   bigint NOT NULL DEFAULT 0,
    retried     bigint NOT NULL DEFAULT 0,
    dead        bigint NOT NULL DEFAULT 0,
    runs        bigint[] NOT NULL,  -- completed jobs per run-time bucket
    depth       bigint,             -- due jobs waiting when sampled (NULL: not sampled)
    oldest_wait double precision,   -- seconds the oldest of them had waited then
    PRIMARY KEY (minute, job_type)
);
