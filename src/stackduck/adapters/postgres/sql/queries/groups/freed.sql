-- Jobs of these groups of a type stopped running: the groups parked at their
-- group_concurrency take their turn again (turn_at back to the later of served_at and
-- head_at). The rows are locked in key order, as queued.sql locks them; a group not
-- parked is not written.
UPDATE stackduck_groups AS g
SET parked_until = 0
FROM (
    SELECT job_type, priority, group_key
    FROM stackduck_groups
    WHERE job_type = %(job_type)s
      AND priority IN (1, 2, 3)
      AND group_key = ANY(%(groups)s::text[])
      AND parked_until > 0
    ORDER BY priority, group_key
    FOR UPDATE
) AS parked
WHERE g.job_type = parked.job_type AND g.priority = parked.priority AND g.group_key = parked.group_key
