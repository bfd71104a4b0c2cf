-- 0006: concurrency and rate limits per job type (ADR 0028). One row per limited type:
-- its limits and its rate's token bucket. A limited claim locks the rows of its types,
-- counts their running jobs (the index below) and spends the bucket in one transaction.

CREATE TABLE stackduck_limits (
    job_type    text PRIMARY KEY,
    concurrency integer NOT NULL CHECK (concurrency >= 0),
    rate        double precision NOT NULL CHECK (rate >= 0),
    per         double precision NOT NULL CHECK (per > 0),
    burst       integer NOT NULL CHECK (burst >= 0),
    tokens      double precision,
    counted_at  double precision,
    updated_at  double precision NOT NULL,
    CHECK (concurrency > 0 OR rate > 0)
);

CREATE INDEX stackduck_jobs_running ON stackduck_jobs (job_type) WHERE status = 'running';
