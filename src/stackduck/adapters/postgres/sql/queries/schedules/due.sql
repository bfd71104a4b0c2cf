-- The schedules not paused whose next tick has come, earliest first (the fire loop).
SELECT name, job_type, payload, priority, delay, max_retries, timeout, metadata, cron, every_seconds,
    timezone, catch_up, paused, next_due, last_run, version, created_at, updated_at, group_key
FROM stackduck_schedules
WHERE NOT paused AND next_due <= %(now)s
ORDER BY next_due, name
LIMIT %(limit)s
