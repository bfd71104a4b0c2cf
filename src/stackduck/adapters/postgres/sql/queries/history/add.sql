-- Add a batch of minutes' counts to the charts' table: counts and run-time buckets are
-- summed with what other instances wrote; a minute's queue sample, when given, replaces
-- the one kept. Rows go in key order, so two instances adding the same minutes lock them
-- in the same order.
INSERT INTO stackduck_minutes AS m (
    minute, job_type, enqueued, completed, retried, dead, runs, depth, oldest_wait
)
SELECT minute, job_type, enqueued, completed, retried, dead,
       ARRAY(SELECT jsonb_array_elements_text(runs)::bigint), depth, oldest_wait
FROM jsonb_to_recordset(%(minutes)s::jsonb) AS r (
    minute bigint, job_type text, enqueued bigint, completed bigint, retried bigint,
    dead bigint, runs jsonb, depth bigint, oldest_wait float8
)
ORDER BY minute, job_type
ON CONFLICT (minute, job_type) DO UPDATE SET
    enqueued = m.enqueued + EXCLUDED.enqueued,
    completed = m.completed + EXCLUDED.completed,
    retried = m.retried + EXCLUDED.retried,
    dead = m.dead + EXCLUDED.dead,
    runs = ARRAY(
        SELECT kept + added
        FROM unnest(m.runs, EXCLUDED.runs) WITH ORDINALITY AS u (kept, added, i)
        ORDER BY i
    ),
    depth = coalesce(EXCLUDED.depth, m.depth),
    oldest_wait = CASE WHEN EXCLUDED.depth IS NULL THEN m.oldest_wait ELSE EXCLUDED.oldest_wait END
