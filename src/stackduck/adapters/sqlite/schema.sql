-- The SQLite record: the same jobs as PostgreSQL's (adapters/postgres/sql/schema.sql),
-- in SQLite's types. Every statement is idempotent: applied at each start.

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
