-- The SQLite record: the same jobs as PostgreSQL's (adapters/postgres/sql/schema.sql),
-- in SQLite's types. IF NOT EXISTS throughout: a file whose tables were made before the
-- schema was numbered is taken as it stands.

CREATE TABLE IF NOT EXISTS stackduck_jobs (
    id               TEXT PRIMARY KEY,
    job_type         TEXT NOT NULL,
    payload          TEXT NOT NULL,
    priority         INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 3),
    delay            INTEGER NOT NULL,
    max_retries      INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    run_at           REAL NOT NULL,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    retry_count      INTEGER NOT NULL,
    attempt          INTEGER NOT NULL,
    error_message    TEXT NOT NULL,
    started_at       REAL,
    completed_at     REAL,
    lease_owner      TEXT,
    lease_expires_at REAL,
    version          INTEGER NOT NULL,
    idempotency_key  TEXT NOT NULL,
    timeout          REAL NOT NULL,
    metadata         TEXT NOT NULL,
    result           TEXT,
    attempt_deadline REAL,
    attempts         TEXT NOT NULL,  -- the ended attempts, JSON ('' = none)
    group_key        TEXT NOT NULL
) WITHOUT ROWID;
-- Listings by status, a page at a time in id order.
CREATE INDEX IF NOT EXISTS stackduck_jobs_status ON stackduck_jobs (status, id);
-- Queued jobs by due time: the ready queue's seed, the scheduler, the due order.
CREATE INDEX IF NOT EXISTS stackduck_jobs_due ON stackduck_jobs (run_at, id) WHERE status = 'queued';
-- The lease reaper: running jobs by deadline.
CREATE INDEX IF NOT EXISTS stackduck_jobs_leases ON stackduck_jobs (lease_expires_at) WHERE status = 'running';
-- Retention: finished jobs by the time they finished.
CREATE INDEX IF NOT EXISTS stackduck_jobs_finished ON stackduck_jobs (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- Idempotency keys: per (type, key) the job that holds it, held while that job is kept and
-- until reserved_until at least (job_kept: whether the job still is).
CREATE TABLE IF NOT EXISTS stackduck_idempotency (
    job_type       TEXT NOT NULL,
    key            TEXT NOT NULL,
    job_id         TEXT NOT NULL,
    reserved_until REAL NOT NULL,
    job_kept       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (job_type, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stackduck_idempotency_gone ON stackduck_idempotency (reserved_until)
    WHERE NOT job_kept;

-- Job types whose jobs are held back from delivery.
CREATE TABLE IF NOT EXISTS stackduck_paused (job_type TEXT PRIMARY KEY) WITHOUT ROWID;

-- Periodic schedules, as PostgreSQL keeps them; version guards every write.
CREATE TABLE IF NOT EXISTS stackduck_schedules (
    name          TEXT PRIMARY KEY,
    job_type      TEXT NOT NULL,
    payload       TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    delay         INTEGER NOT NULL,
    max_retries   INTEGER NOT NULL,
    timeout       REAL NOT NULL,
    metadata      TEXT NOT NULL,
    cron          TEXT NOT NULL,
    every_seconds INTEGER NOT NULL,
    timezone      TEXT NOT NULL,
    catch_up      INTEGER NOT NULL,
    paused        INTEGER NOT NULL,
    next_due      REAL NOT NULL,
    last_run      REAL,
    version       INTEGER NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
) WITHOUT ROWID;

-- Concurrency and rate limits per job type, and each rate's bucket (tokens as counted
-- at counted_at; NULL: full).
CREATE TABLE IF NOT EXISTS stackduck_limits (
    job_type          TEXT PRIMARY KEY,
    concurrency       INTEGER NOT NULL,
    rate              REAL NOT NULL,
    per               REAL NOT NULL,
    burst             INTEGER NOT NULL,
    group_concurrency INTEGER NOT NULL,
    tokens            REAL,
    counted_at        REAL
) WITHOUT ROWID;

-- The dashboard's charts: per minute and job type, the counts and the queue's sample.
CREATE TABLE IF NOT EXISTS stackduck_minutes (
    minute      INTEGER NOT NULL,
    job_type    TEXT NOT NULL,
    enqueued    INTEGER NOT NULL,
    completed   INTEGER NOT NULL,
    retried     INTEGER NOT NULL,
    dead        INTEGER NOT NULL,
    runs        TEXT NOT NULL,  -- completed jobs per run-time bucket, a JSON array
    depth       INTEGER,
    oldest_wait REAL,
    PRIMARY KEY (minute, job_type)
) WITHOUT ROWID;
