-- Queued jobs whose time came in (since, now], by type: consumers to wake.
SELECT job_type, count(*)
FROM stackduck_jobs
WHERE status = 'queued' AND run_at > %(since)s AND run_at <= %(now)s
GROUP BY job_type
