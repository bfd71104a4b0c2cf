-- 0010: a schedule's jobs may go into a fair-queue group, as any enqueued job may.
ALTER TABLE stackduck_schedules ADD COLUMN group_key text NOT NULL DEFAULT '';
