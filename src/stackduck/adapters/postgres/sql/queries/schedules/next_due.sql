-- The earliest next tick of the schedules not paused (NULL when there is none).
SELECT min(next_due) FROM stackduck_schedules WHERE NOT paused
