-- 0004: idempotency keys. One row per (job_type, key) names the job that holds the key.
-- The row outlives the job: it is kept while the job is (job_kept) and until
-- reserved_until (the job's created_at plus STACKDUCK_IDEMPOTENCY_SECONDS), whichever
-- is later, so a key still blocks after retention prunes its job early.
-- No job was stored with a key before this migration (EnqueueJob took none): nothing
-- to fill in.

CREATE TABLE stackduck_idempotency (
    job_type       text NOT NULL,
    key            text NOT NULL,
    job_id         uuid NOT NULL,
    reserved_until double precision NOT NULL,
    job_kept       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (job_type, key)
);

CREATE INDEX stackduck_idempotency_gone ON stackduck_idempotency (reserved_until) WHERE NOT job_kept;
