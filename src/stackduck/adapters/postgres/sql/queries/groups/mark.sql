-- A type's first grouped job: its ungrouped jobs become the group '' of its turns. One row
-- per priority, never deleted: it marks the type as grouped (types.sql) and keeps when
-- the group '' was last served. It is not in the turns index, and its head_at is
-- infinity: a claim reads the ungrouped jobs' head from the ready index, so no ungrouped
-- write keeps a row. Run in a transaction of its own, before the jobs'
-- (a row inserted and not yet committed would make a concurrent enqueue wait on it).
INSERT INTO stackduck_groups (job_type, priority, group_key, head_at)
SELECT t.job_type, p.priority, '', 'infinity'
FROM unnest(%(job_types)s::text[]) AS t (job_type)
CROSS JOIN (VALUES (1::smallint), (2::smallint), (3::smallint)) AS p (priority)
ORDER BY 1, 2
ON CONFLICT (job_type, priority, group_key) DO NOTHING
