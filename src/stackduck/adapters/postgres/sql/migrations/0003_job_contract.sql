-- 0003: what a job carries beyond its work: an idempotency key, a run time allowed per
-- attempt and the running attempt's deadline, metadata (a JSON object text), the result
-- it was completed with, and its ended attempts (a JSON array, the latest 20, each an
-- array of domain.job.Attempt's fields in order).
-- Each column has a constant default: adding it rewrites no row.

ALTER TABLE stackduck_jobs
    ADD COLUMN idempotency_key  text NOT NULL DEFAULT '',
    ADD COLUMN timeout          double precision NOT NULL DEFAULT 0,
    ADD COLUMN metadata         text NOT NULL DEFAULT '',
    ADD COLUMN result           text,
    ADD COLUMN attempt_deadline double precision,
    ADD COLUMN attempts         jsonb NOT NULL DEFAULT '[]';
