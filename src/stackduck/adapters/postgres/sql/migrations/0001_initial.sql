-- 0001: the jobs table and the indexes the claim, the scheduler, the reaper and listings use.

CREATE TABLE stackduck_jobs (
    id               uuid PRIMARY KEY,
    job_type         text NOT NULL,
    payload          text NOT NULL,
    priority         smallint NOT NULL CHECK (priority BETWEEN 1 AND 3),
    delay            integer NOT NULL CHECK (delay >= 0),
    max_retries      integer NOT NULL CHECK (max_retries >= 0),
    status           text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
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
    version          bigint NOT NULL DEFAULT 0
);

CREATE INDEX stackduck_jobs_ready ON stackduck_jobs (job_type, priority, run_at, id) WHERE status = 'queued';
CREATE INDEX stackduck_jobs_due ON stackduck_jobs (run_at) WHERE status = 'queued';
CREATE INDEX stackduck_jobs_leases ON stackduck_jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX stackduck_jobs_status ON stackduck_jobs (status, id);
