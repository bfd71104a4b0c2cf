-- Mirrors stackduck.domain.job.Job.start (the lease is _lease.sql) on the best due jobs
-- of some types, no more of each type than its cap: ../claim.sql, with a cap per type
-- (what domain.limits.Limit.allowance allows; the claim's own limit for a type without
-- a limit). Per (type, priority) an index range scan locks up to the type's cap; the
-- window keeps each type to its cap across priorities, then the best `limit` go.
-- The last column counts the rows locked, as in ../claim.sql.
WITH caps AS (
    SELECT c.job_type, c.cap
    FROM unnest(%(job_types)s::text[], %(caps)s::int[]) AS c (job_type, cap)
    WHERE c.cap > 0
),
locked AS (
    SELECT picked.id, picked.job_type, picked.priority, picked.run_at, caps.cap
    FROM caps
    CROSS JOIN (VALUES (1), (2), (3)) AS p (priority)
    CROSS JOIN LATERAL (
        SELECT j.id, j.job_type, j.priority, j.run_at
        FROM stackduck_jobs AS j
        WHERE j.status = 'queued'
          AND j.job_type = caps.job_type
          AND j.priority = p.priority
          AND j.group_key = ''
          AND j.run_at <= %(now)s
        ORDER BY j.run_at, j.id
        LIMIT caps.cap
        FOR UPDATE SKIP LOCKED
    ) AS picked
),
ranked AS (
    SELECT id, priority, run_at, cap,
           row_number() OVER (PARTITION BY job_type ORDER BY priority, run_at, id) AS nth
    FROM locked
),
candidates AS (
    SELECT id FROM ranked WHERE nth <= cap ORDER BY priority, run_at, id LIMIT %(limit)s
)
UPDATE stackduck_jobs AS j
SET {lease}
FROM candidates
WHERE j.id = candidates.id
RETURNING {j.columns}, (SELECT count(*) FROM locked) AS locked
