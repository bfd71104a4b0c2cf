-- How many jobs are in each state; queued ones not yet due count as scheduled.
SELECT CASE WHEN status = 'queued' AND run_at > %(now)s THEN 'scheduled' ELSE status END AS state,
       count(*)
FROM stackduck_jobs
GROUP BY 1
