-- Pause a job type (pausing a paused type changes nothing).
INSERT INTO stackduck_paused (job_type) VALUES (%(job_type)s) ON CONFLICT DO NOTHING
