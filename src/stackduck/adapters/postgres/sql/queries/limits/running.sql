-- How many jobs of each of these types are running (stackduck_jobs_running).
SELECT job_type, count(*) FROM stackduck_jobs
WHERE status = 'running' AND job_type = ANY(%(job_types)s::text[])
GROUP BY job_type
