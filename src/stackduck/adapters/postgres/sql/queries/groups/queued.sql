-- Grouped jobs became queued (an insert, a retry, a release, a lease run out): put their
-- groups in the turns, or bring a group's head forward to its earliest such job. Runs
-- in the transaction of the job write, after it, so no committed queued grouped job is
-- ever without its group's row. One row a (type, priority, group), in key order (every
-- statement that writes several group rows waits for them in that order, so none waits
-- on another in a circle). ON CONFLICT keeps it atomic against a claim that deletes the
-- row: the claim holds the row locked from before it reads the jobs; this waits for it,
-- then updates the row or, deleted, inserts it again.
INSERT INTO stackduck_groups AS g (job_type, priority, group_key, head_at)
SELECT q.job_type, q.priority, q.group_key, q.head_at
FROM unnest(%(job_types)s::text[], %(priorities)s::smallint[], %(groups)s::text[], %(heads)s::float8[])
    AS q (job_type, priority, group_key, head_at)
ORDER BY 1, 2, 3
ON CONFLICT (job_type, priority, group_key) DO UPDATE
SET head_at = excluded.head_at
WHERE excluded.head_at < g.head_at
