-- Store a small batch of new jobs in one statement (one round trip; COPY takes two).
-- The batch is one JSON array of objects, as in apply.sql.
INSERT INTO stackduck_jobs (
    id, job_type, payload, priority, delay, max_retries, status, run_at, created_at,
    updated_at, retry_count, attempt, error_message, started_at, completed_at,
    lease_owner, lease_expires_at, version, idempotency_key, timeout, metadata, result,
    attempt_deadline, attempts, group_key
)
SELECT
    id, job_type, payload, priority, delay, max_retries, status, run_at, created_at,
    updated_at, retry_count, attempt, error_message, started_at, completed_at,
    lease_owner, lease_expires_at, version, idempotency_key, timeout, metadata, result,
    attempt_deadline, attempts, group_key
FROM json_to_recordset(%(jobs)s::json) AS r (
    id uuid, job_type text, payload text, priority smallint, delay integer,
    max_retries integer, status text, run_at float8, created_at float8, updated_at float8,
    retry_count integer, attempt integer, error_message text, started_at float8,
    completed_at float8, lease_owner text, lease_expires_at float8, version bigint,
    idempotency_key text, timeout float8, metadata text, result text,
    attempt_deadline float8, attempts jsonb, group_key text
)
