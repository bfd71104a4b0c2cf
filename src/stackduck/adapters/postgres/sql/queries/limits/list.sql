-- Every limit, by job type.
SELECT job_type, concurrency, rate, per, burst, group_concurrency FROM stackduck_limits ORDER BY job_type
