-- Drop a type's limit and its bucket.
DELETE FROM stackduck_limits WHERE job_type = %(job_type)s RETURNING job_type
