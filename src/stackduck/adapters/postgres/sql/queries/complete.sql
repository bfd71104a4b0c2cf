-- Mirrors stackduck.domain.job.Job.complete: complete running jobs whose lease each
-- completion matches (its token and its worker, where given) and whose attempt has not
-- timed out, with the result given, in one statement, without reading first. The
-- attempt joins the job's history (the latest 20 kept, as Job._end_attempt does). Row
-- locks make it exclusive with any other move of the same job.
UPDATE stackduck_jobs AS j
SET status = 'completed',
    completed_at = c.now,
    error_message = '',
    result = c.result,
    attempts = CASE WHEN jsonb_array_length(j.attempts) >= 20 THEN j.attempts - 0 ELSE j.attempts END
        || jsonb_build_array(jsonb_build_array(
            j.attempt, coalesce(j.lease_owner, ''), coalesce(j.started_at, c.now), c.now, 'completed', '')),
    lease_owner = NULL,
    lease_expires_at = NULL,
    attempt_deadline = NULL,
    updated_at = c.now,
    version = j.version + 1
FROM json_to_recordset(%(completions)s::json)
    AS c (id uuid, worker_id text, token integer, now float8, result text)
WHERE j.id = c.id
  AND j.status = 'running'
  AND (c.token IS NULL OR j.attempt = c.token)
  AND (c.worker_id IS NULL OR j.lease_owner = c.worker_id)
  AND (j.attempt_deadline IS NULL OR c.now < j.attempt_deadline)
RETURNING {j.columns}
