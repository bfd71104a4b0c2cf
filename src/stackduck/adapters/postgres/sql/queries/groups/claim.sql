-- Mirrors stackduck.domain.job.Job.start (the lease is _lease.sql) on the jobs a grouped
-- claim takes in turns. A lane is one group of a type at one priority, with its turn
-- time: a group lock.sql locked, a grouped type's group '' (its ungrouped jobs), or an
-- ungrouped type asked beside grouped ones (one lane a priority, never served: its turn
-- is its earliest due job's). Each lane reads its earliest due jobs in (run_at, id)
-- order, at most `reads` (no more than it could get of the claim), by the grouped index
-- or the ready one. Its turn is the later of the turn given and its first job's due
-- time. The n-th job of a lane goes in round n; the jobs go by priority, round, turn:
-- round after round of the lanes in turn order, a better priority first. No more of a
-- type than its cap (what domain.limits.Limit.allowance allows, else the claim's limit),
-- no more of a group, over its priorities, than its room (domain.limits.Limit.
-- group_allowance), the best `limit` in all. Only those are locked, by id alone (SKIP
-- LOCKED: one another statement holds is left), and leased if, as locked, they are
-- still queued and due (judged on the locked rows, not in a WHERE on the table, which
-- could let the planner take the due index and read every due job). claim_order says in which order the claim took them
-- (1 first).
WITH lanes AS (
    SELECT *
    FROM unnest(
        %(job_types)s::text[], %(priorities)s::smallint[], %(groups)s::text[],
        %(turns)s::float8[], %(reads)s::int[], %(rooms)s::int[], %(caps)s::int[]
    ) WITH ORDINALITY AS l (job_type, priority, group_key, turn_at, reads, room, cap, lane)
),
picked AS (
    SELECT l.lane, l.job_type, l.priority, l.group_key, l.turn_at, l.room, l.cap, j.id, j.run_at
    FROM lanes AS l
    CROSS JOIN LATERAL (
        SELECT j.id, j.run_at
        FROM stackduck_jobs AS j
        WHERE j.status = 'queued'
          AND j.job_type = l.job_type
          AND j.priority = l.priority
          AND j.group_key <> ''
          AND j.group_key = l.group_key
          AND j.run_at <= %(now)s
        ORDER BY j.run_at, j.id
        LIMIT l.reads
    ) AS j
    WHERE l.group_key <> ''
    UNION ALL
    SELECT l.lane, l.job_type, l.priority, l.group_key, l.turn_at, l.room, l.cap, j.id, j.run_at
    FROM lanes AS l
    CROSS JOIN LATERAL (
        SELECT j.id, j.run_at
        FROM stackduck_jobs AS j
        WHERE j.status = 'queued'
          AND j.job_type = l.job_type
          AND j.priority = l.priority
          AND j.group_key = ''
          AND j.run_at <= %(now)s
        ORDER BY j.run_at, j.id
        LIMIT l.reads
    ) AS j
    WHERE l.group_key = ''
),
rounds AS (
    SELECT id, job_type, priority, group_key, lane, room, cap,
           row_number() OVER (PARTITION BY lane ORDER BY run_at, id) AS round,
           greatest(turn_at, min(run_at) OVER (PARTITION BY lane)) AS turn_at
    FROM picked
),
ranked AS (
    SELECT id, priority, lane, round, turn_at,
           row_number() OVER (PARTITION BY job_type ORDER BY priority, round, turn_at, lane) <= cap
           AND row_number() OVER (PARTITION BY job_type, group_key ORDER BY priority, round, turn_at, lane)
               <= room AS fits
    FROM rounds
),
candidates AS (
    SELECT id, row_number() OVER (ORDER BY priority, round, turn_at, lane) AS claim_order
    FROM ranked
    WHERE fits
    ORDER BY priority, round, turn_at, lane
    LIMIT %(limit)s
),
chosen AS (
    SELECT j.id, j.status, j.run_at
    FROM stackduck_jobs AS j
    WHERE j.id = ANY(ARRAY(SELECT id FROM candidates))
    FOR UPDATE SKIP LOCKED
)
UPDATE stackduck_jobs AS j
SET {lease}
FROM chosen
JOIN candidates AS c ON c.id = chosen.id
WHERE j.id = chosen.id AND chosen.status = 'queued' AND chosen.run_at <= %(now)s
RETURNING {j.columns}, c.claim_order
