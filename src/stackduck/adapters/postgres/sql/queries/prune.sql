-- Delete a batch of jobs that finished (in the given states) before a moment.
-- The outer statement checks state and age again: a row the inner SELECT chose may be
-- locked by a move (a dead letter being re-queued) that commits before this statement
-- gets the row, and PostgreSQL re-evaluates the outer WHERE on the row as committed.
-- The idempotency keys of the jobs pruned stay held to the end of their window, as in
-- delete.sql. Returns how many jobs went.
WITH gone AS (
    DELETE FROM stackduck_jobs
    WHERE id IN (
        SELECT id FROM stackduck_jobs
        WHERE status = ANY(%(statuses)s::text[]) AND completed_at < %(before)s
        LIMIT %(limit)s
    )
    AND status = ANY(%(statuses)s::text[]) AND completed_at < %(before)s
    RETURNING id, job_type, idempotency_key
),
{released_keys}
SELECT count(*) FROM gone
