-- Write a schedule over the version it was read at (compare-and-set): no row returns when
-- another write came first. A concurrent writer of the row waits for this transaction,
-- then finds the version moved on: of two fire steps of one tick, one writes.
UPDATE stackduck_schedules SET
    job_type = %(job_type)s, payload = %(payload)s, priority = %(priority)s, delay = %(delay)s,
    max_retries = %(max_retries)s, timeout = %(timeout)s, metadata = %(metadata)s, cron = %(cron)s,
    every_seconds = %(every_seconds)s, timezone = %(timezone)s, catch_up = %(catch_up)s,
    paused = %(paused)s, next_due = %(next_due)s, last_run = %(last_run)s, version = %(version)s,
    created_at = %(created_at)s, updated_at = %(updated_at)s, group_key = %(group_key)s
WHERE name = %(name)s AND version = %(expected_version)s
RETURNING name
