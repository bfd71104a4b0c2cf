-- Delete jobs by id that are in one of the given states and, unless `before` is NULL,
-- finished before that moment. The ids arrive as one comma-separated text, as in start.sql.
-- The idempotency keys the deleted jobs hold stay held to the end of their window: they
-- are marked as no longer kept by a job (free_keys.sql forgets them later), locked in key
-- order as insert_keyed.sql locks them. Returns how many jobs went.
WITH gone AS (
    DELETE FROM stackduck_jobs
    WHERE id = ANY(string_to_array(%(ids)s, ',')::uuid[])
      AND status = ANY(%(statuses)s::text[])
      AND (%(before)s::double precision IS NULL OR completed_at < %(before)s)
    RETURNING id, job_type, idempotency_key
),
{released_keys}
SELECT count(*) FROM gone
