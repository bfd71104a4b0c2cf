-- Create a schedule unless one has its name (then nothing is written and no row returns).
INSERT INTO stackduck_schedules (
    name, job_type, payload, priority, delay, max_retries, timeout, metadata, cron, every_seconds,
    timezone, catch_up, paused, next_due, last_run, version, created_at, updated_at, group_key
) VALUES (
    %(name)s, %(job_type)s, %(payload)s, %(priority)s, %(delay)s, %(max_retries)s, %(timeout)s,
    %(metadata)s, %(cron)s, %(every_seconds)s, %(timezone)s, %(catch_up)s, %(paused)s,
    %(next_due)s, %(last_run)s, %(version)s, %(created_at)s, %(updated_at)s, %(group_key)s
)
ON CONFLICT (name) DO NOTHING
RETURNING name
