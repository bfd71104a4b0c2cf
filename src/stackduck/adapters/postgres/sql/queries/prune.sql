-- Delete a batch of jobs that finished (in the given states) before a moment.
DELETE FROM stackduck_jobs
WHERE id IN (
    SELECT id FROM stackduck_jobs
    WHERE status = ANY(%(statuses)s::text[]) AND completed_at < %(before)s
    LIMIT %(limit)s
)
