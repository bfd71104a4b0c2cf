-- How many jobs of each of these types are running (stackduck_jobs_running), per group
-- for the types in `by_group` (those with a group_concurrency), else under the group ''.
SELECT job_type, CASE WHEN job_type = ANY(%(by_group)s::text[]) THEN group_key ELSE '' END, count(*)
FROM stackduck_jobs
WHERE status = 'running' AND job_type = ANY(%(job_types)s::text[])
GROUP BY 1, 2
