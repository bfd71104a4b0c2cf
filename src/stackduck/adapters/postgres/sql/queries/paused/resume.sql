-- Resume a paused job type (resuming one that is not paused changes nothing).
DELETE FROM stackduck_paused WHERE job_type = %(job_type)s
