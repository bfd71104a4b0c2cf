-- Store a large batch of new jobs by COPY: rows in this column order (the store's
-- ALL_FIELDS, which a unit test holds to this list).
COPY stackduck_jobs (
    id, job_type, payload, priority, delay, max_retries, status, run_at, created_at,
    updated_at, retry_count, attempt, error_message, started_at, completed_at,
    lease_owner, lease_expires_at, version, idempotency_key, timeout, metadata, result,
    attempt_deadline, attempts, group_key
) FROM STDIN
