-- A page of jobs in id order, optionally of one status and one type.
SELECT {columns}
FROM stackduck_jobs
WHERE (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s::text)
  AND id > %(after)s::uuid
ORDER BY id
LIMIT %(limit)s
