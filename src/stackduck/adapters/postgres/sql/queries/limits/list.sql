-- Every limit, by job type.
SELECT job_type, concurrency, rate, per, burst FROM stackduck_limits ORDER BY job_type
