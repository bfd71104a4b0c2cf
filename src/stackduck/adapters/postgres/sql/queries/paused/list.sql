-- The job types paused now.
SELECT job_type FROM stackduck_paused
