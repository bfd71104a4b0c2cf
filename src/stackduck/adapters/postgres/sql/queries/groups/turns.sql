-- A grouped claim's last step: write back the turns of the groups it locked (lock.sql,
-- found again by ctid: locked, they stayed put). A named group's head is read again
-- (its earliest queued job of that priority, due or not; the jobs this claim leased are
-- running by now): none left, the group leaves the turns (deleted; a job queued again
-- puts it back, queued.sql); else served_at (NULL: not served) and parked_until (NULL:
-- as it was) are written with the head, where something changed. A group '' row keeps
-- served_at and parked_until only (its jobs' head is the ready index's). One missing
-- (row_at NULL: the type was never marked) is inserted, unless another statement has
-- just inserted it. Nothing here waits for a row another claim holds.
WITH lanes AS (
    SELECT *
    FROM unnest(
        %(job_types)s::text[], %(priorities)s::smallint[], %(groups)s::text[], %(ctids)s::tid[],
        %(served)s::float8[], %(parked)s::float8[]
    ) AS l (job_type, priority, group_key, row_at, served_at, parked_until)
),
heads AS (
    SELECT l.row_at, l.served_at, l.parked_until,
           (SELECT j.run_at
            FROM stackduck_jobs AS j
            WHERE j.status = 'queued'
              AND j.job_type = l.job_type
              AND j.priority = l.priority
              AND j.group_key <> ''
              AND j.group_key = l.group_key
            ORDER BY j.run_at, j.id
            LIMIT 1) AS head_at
    FROM lanes AS l
    WHERE l.group_key <> ''
),
emptied AS (
    DELETE FROM stackduck_groups AS g
    WHERE g.ctid = ANY(ARRAY(SELECT row_at FROM heads WHERE head_at IS NULL))
),
kept AS (
    UPDATE stackduck_groups AS g
    SET served_at = coalesce(h.served_at, g.served_at),
        head_at = h.head_at,
        parked_until = coalesce(h.parked_until, g.parked_until)
    FROM heads AS h
    WHERE g.ctid = ANY(ARRAY(SELECT row_at FROM heads WHERE head_at IS NOT NULL))
      AND h.row_at = g.ctid
      AND (g.served_at, g.head_at, g.parked_until)
          IS DISTINCT FROM (coalesce(h.served_at, g.served_at), h.head_at, coalesce(h.parked_until, g.parked_until))
),
ungrouped AS (
    UPDATE stackduck_groups AS g
    SET served_at = greatest(g.served_at, coalesce(l.served_at, 0)),
        parked_until = coalesce(l.parked_until, g.parked_until)
    FROM lanes AS l
    WHERE g.ctid = ANY(ARRAY(SELECT row_at FROM lanes WHERE group_key = '' AND row_at IS NOT NULL))
      AND l.row_at = g.ctid
)
INSERT INTO stackduck_groups (job_type, priority, group_key, served_at, head_at, parked_until)
SELECT l.job_type, l.priority, '', coalesce(l.served_at, 0), 'infinity', coalesce(l.parked_until, 0)
FROM lanes AS l
WHERE l.group_key = '' AND l.row_at IS NULL
ORDER BY 1, 2
ON CONFLICT (job_type, priority, group_key) DO NOTHING
