-- Mirrors stackduck.domain.job.Job.start (the lease is _lease.sql) on the best due jobs
-- of some types: lease them, in one statement, to the owners listed (a JSON array,
-- one entry per job wanted): the best job to the first, the next to the second, ...
-- Ungrouped jobs only: a type with groups is claimed by limits/claim.sql, in turns.
-- Per (job type, priority) an index range scan finds the oldest due jobs, skipping
-- rows other claimers hold locked; the best `limit` of those go to running.
-- Those scans lock up to `limit` rows each, more than are taken when several
-- priorities or types have jobs: a claim running meanwhile skips them and may come
-- back empty. The last column counts the rows locked, so the caller knows how many
-- it passed over (still queued once this commits) and can tell the others.
WITH locked AS (
    SELECT picked.id, picked.priority, picked.run_at
    FROM unnest(%(job_types)s::text[]) AS t (job_type)
    CROSS JOIN (VALUES (1), (2), (3)) AS p (priority)
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at
        FROM stackduck_jobs AS j
        WHERE j.status = 'queued'
          AND j.job_type = t.job_type
          AND j.priority = p.priority
          AND j.group_key = ''
          AND j.run_at <= %(now)s
        ORDER BY j.run_at, j.id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS picked
),
candidates AS (
    SELECT id, row_number() OVER (ORDER BY priority, run_at, id) - 1 AS slot
    FROM locked ORDER BY priority, run_at, id LIMIT %(limit)s
)
UPDATE stackduck_jobs AS j
SET {lease}
FROM candidates
WHERE j.id = candidates.id
RETURNING {j.columns}, (SELECT count(*) FROM locked) AS locked
