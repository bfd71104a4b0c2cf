-- Write a batch of moves, each only over the version it was made from (compare-and-set).
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
    version = c.version
FROM unnest(
    %(id)s::uuid[], %(expected_version)s::bigint[], %(status)s::text[], %(run_at)s::float8[],
    %(updated_at)s::float8[], %(retry_count)s::integer[], %(attempt)s::integer[],
    %(error_message)s::text[], %(started_at)s::float8[], %(completed_at)s::float8[],
    %(lease_owner)s::text[], %(lease_expires_at)s::float8[], %(version)s::bigint[]
) AS c (
    id, expected_version, status, run_at, updated_at, retry_count, attempt, error_message,
    started_at, completed_at, lease_owner, lease_expires_at, version
)
WHERE j.id = c.id AND j.version = c.expected_version
RETURNING j.id::text
