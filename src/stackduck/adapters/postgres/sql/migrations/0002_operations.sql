-- 0002: paused job types, and the index retention prunes finished jobs by.

CREATE TABLE stackduck_paused (
    job_type  text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX stackduck_jobs_finished ON stackduck_jobs (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
