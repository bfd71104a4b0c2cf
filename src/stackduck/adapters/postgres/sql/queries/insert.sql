-- Insert a batch of new jobs in one statement, one array per column.
INSERT INTO stackduck_jobs (
    id, job_type, payload, priority, delay, max_retries, status, run_at, created_at, updated_at,
    retry_count, attempt, error_message, started_at, completed_at, lease_owner, lease_expires_at, version
)
SELECT *
FROM unnest(
    %(id)s::uuid[], %(job_type)s::text[], %(payload)s::text[], %(priority)s::smallint[],
    %(delay)s::integer[], %(max_retries)s::integer[], %(status)s::text[], %(run_at)s::float8[],
    %(created_at)s::float8[], %(updated_at)s::float8[], %(retry_count)s::integer[],
    %(attempt)s::integer[], %(error_message)s::text[], %(started_at)s::float8[],
    %(completed_at)s::float8[], %(lease_owner)s::text[], %(lease_expires_at)s::float8[],
    %(version)s::bigint[]
)
