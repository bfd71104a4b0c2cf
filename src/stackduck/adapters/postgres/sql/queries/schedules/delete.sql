-- Remove a schedule (no row returns when none has the name).
DELETE FROM stackduck_schedules WHERE name = %(name)s RETURNING name
