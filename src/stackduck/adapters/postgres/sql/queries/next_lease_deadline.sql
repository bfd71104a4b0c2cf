-- When the next lease runs out (NULL when no job is running): the lease reaper's next wake-up.
SELECT min(lease_expires_at) FROM stackduck_jobs WHERE status = 'running'
