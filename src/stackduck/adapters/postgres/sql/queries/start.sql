-- Lease the given jobs to one worker where they are still queued and due: the domain's
-- start move in one statement (row locks make concurrent starts of one job exclusive).
UPDATE stackduck_jobs AS j
SET {lease}
WHERE j.id = ANY(%(ids)s::uuid[]) AND j.status = 'queued' AND j.run_at <= %(now)s
RETURNING {j.columns}
