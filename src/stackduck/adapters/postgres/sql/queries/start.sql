-- Lease the given jobs to one worker where they are still queued and due: the domain's
-- start move in one statement (row locks make concurrent starts of one job exclusive).
UPDATE stackduck_jobs AS j
SET status = 'running',
    attempt = j.attempt + 1,
    lease_owner = %(worker_id)s,
    lease_expires_at = %(now)s + %(lease_seconds)s,
    started_at = %(now)s,
    updated_at = %(now)s,
    version = j.version + 1
WHERE j.id = ANY(%(ids)s::uuid[]) AND j.status = 'queued' AND j.run_at <= %(now)s
RETURNING {j.columns}
