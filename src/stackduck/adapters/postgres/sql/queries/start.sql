-- Mirrors stackduck.domain.job.Job.start: lease the given jobs where they are still
-- queued and due (Job.is_due), in one statement, each to its owner (a JSON object, job
-- id: worker); the lease is _lease.sql. Row locks make concurrent starts of one job
-- exclusive.
-- The ids arrive as one comma-separated text: psycopg dumps a list element by element
-- (744 against 102 µs of client CPU for 200 ids).
UPDATE stackduck_jobs AS j
SET {lease}
WHERE j.id = ANY(string_to_array(%(ids)s, ',')::uuid[]) AND j.status = 'queued' AND j.run_at <= %(now)s
RETURNING {j.columns}
