-- Every schedule, by name.
SELECT name, job_type, payload, priority, delay, max_retries, timeout, metadata, cron, every_seconds,
    timezone, catch_up, paused, next_due, last_run, version, created_at, updated_at, group_key
FROM stackduck_schedules
ORDER BY name
