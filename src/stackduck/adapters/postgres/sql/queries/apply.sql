-- Write a batch of moves, each only over the version it was made from (compare-and-set).
-- The batch is one JSON array of objects: one parameter, which the driver sends as
-- is, where an array per column costs it a Python loop over every element.
UPDATE stackduck_jobs AS j
SET status = c.status,
    run_at = c.run_at,
    updated_at = c.updated_at,
    retry_count = c.retry_count,
    attempt = c.attempt,
    error_message = c.error_message,
    started_at = c.started_at,
    completed_at = c.completed_at,
    lease_owner = c.lease_owner,
    lease_expires_at = c.lease_expires_at,
    version = c.version,
    result = c.result,
    attempt_deadline = c.attempt_deadline,
    attempts = c.attempts
FROM json_to_recordset(%(changes)s::json) AS c (
    id uuid, expected_version bigint, status text, run_at float8, updated_at float8,
    retry_count integer, attempt integer, error_message text, started_at float8,
    completed_at float8, lease_owner text, lease_expires_at float8, version bigint,
    result text, attempt_deadline float8, attempts jsonb
)
WHERE j.id = c.id AND j.version = c.expected_version
RETURNING j.id::text
