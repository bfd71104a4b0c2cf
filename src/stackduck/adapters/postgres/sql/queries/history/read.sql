-- The charts' minutes from %(first)s to %(last)s, of one job type (or of every type: NULL).
SELECT minute, job_type, enqueued, completed, retried, dead, runs, depth, oldest_wait
FROM stackduck_minutes
WHERE minute BETWEEN %(first)s AND %(last)s AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s::text)
ORDER BY minute, job_type
