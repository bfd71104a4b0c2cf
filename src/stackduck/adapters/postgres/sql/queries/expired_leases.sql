-- Running jobs whose lease ran out by now, the longest expired first (the lease reaper).
SELECT {columns} FROM stackduck_jobs
WHERE status = 'running' AND lease_expires_at <= %(now)s
ORDER BY lease_expires_at
LIMIT %(limit)s
