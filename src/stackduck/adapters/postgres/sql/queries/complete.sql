-- Mirrors stackduck.domain.job.Job.complete: complete running jobs whose lease each
-- completion matches (its token and its worker, where given), in one statement,
-- without reading first. Row locks make it exclusive with any other move of the same job.
UPDATE stackduck_jobs AS j
SET status = 'completed',
    completed_at = c.now,
    error_message = '',
    lease_owner = NULL,
    lease_expires_at = NULL,
    updated_at = c.now,
    version = j.version + 1
FROM json_to_recordset(%(completions)s::json) AS c (id uuid, worker_id text, token integer, now float8)
WHERE j.id = c.id
  AND j.status = 'running'
  AND (c.token IS NULL OR j.attempt = c.token)
  AND (c.worker_id IS NULL OR j.lease_owner = c.worker_id)
RETURNING {j.columns}
