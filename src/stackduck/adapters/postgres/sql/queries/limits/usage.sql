-- Every limit, its bucket, and its type's running jobs now.
SELECT l.job_type, l.concurrency, l.rate, l.per, l.burst, l.group_concurrency, l.tokens, l.counted_at,
       (SELECT count(*) FROM stackduck_jobs AS j WHERE j.status = 'running' AND j.job_type = l.job_type)
FROM stackduck_limits AS l
ORDER BY l.job_type
