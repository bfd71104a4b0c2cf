-- A grouped claim's first step after the limits: per (type, priority), lock the groups
-- whose turn has come, earliest turn first, no more than the claim can take of the type
-- (`caps`), skipping those another claim holds (FOR UPDATE SKIP LOCKED on the turns
-- index: nothing is read past them, however many groups wait). The jobs are read by the
-- next statement, whose snapshot sees every enqueue that wrote one of these rows before
-- it was locked here (an enqueue after waits for this transaction: queued.sql). Each
-- row's ctid is where turns.sql finds it again: locked, it stays put until this
-- transaction ends (and a lookup by ctid needs no plan to go the right way).
-- Then the types' group '' rows (mark.sql): when their ungrouped jobs were last served,
-- and whether they are parked, with their ctid if locked here (NULL: another claim, or
-- a freed, holds it; this claim leaves that group '' out). A type without them (never
-- grouped, or asked in a grouped claim beside grouped types) returns none.
SELECT g.job_type, g.priority, g.group_key, g.turn_at, g.served_at, g.parked_until, g.ctid::text
FROM unnest(%(job_types)s::text[], %(caps)s::int[]) AS t (job_type, cap)
CROSS JOIN (VALUES (1::smallint), (2::smallint), (3::smallint)) AS p (priority)
CROSS JOIN LATERAL (
    SELECT g.job_type, g.priority, g.group_key, g.turn_at, g.served_at, g.parked_until, g.ctid
    FROM stackduck_groups AS g
    WHERE g.job_type = t.job_type AND g.priority = p.priority AND g.group_key <> '' AND g.turn_at <= %(now)s
    ORDER BY g.turn_at
    LIMIT t.cap
    FOR UPDATE SKIP LOCKED
) AS g
UNION ALL
SELECT g.job_type, g.priority, g.group_key, g.turn_at, g.served_at, g.parked_until, mine.ctid::text
FROM unnest(%(job_types)s::text[]) AS t (job_type)
CROSS JOIN (VALUES (1::smallint), (2::smallint), (3::smallint)) AS p (priority)
CROSS JOIN LATERAL (
    SELECT g.job_type, g.priority, g.group_key, g.turn_at, g.served_at, g.parked_until
    FROM stackduck_groups AS g
    WHERE g.job_type = t.job_type AND g.priority = p.priority AND g.group_key = ''
) AS g
LEFT JOIN LATERAL (
    SELECT g.ctid
    FROM stackduck_groups AS g
    WHERE g.job_type = t.job_type AND g.priority = p.priority AND g.group_key = ''
    FOR UPDATE SKIP LOCKED
) AS mine ON true
