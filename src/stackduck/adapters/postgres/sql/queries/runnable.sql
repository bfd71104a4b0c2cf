-- A page of queued jobs' queue entries in id order (the status index), without their
-- payloads: what a ready queue is rebuilt and checked from.
SELECT id::text, job_type, priority, run_at, group_key FROM stackduck_jobs
WHERE status = 'queued' AND id > %(after)s::uuid
ORDER BY id
LIMIT %(limit)s
