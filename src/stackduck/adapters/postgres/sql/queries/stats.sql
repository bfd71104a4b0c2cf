-- Per job type: ready by priority, scheduled, running, dead, what finished recently, and
-- when the longest-waiting due job fell due.
SELECT job_type,
       count(*) FILTER (WHERE status = 'queued' AND run_at <= %(now)s AND priority = 1),
       count(*) FILTER (WHERE status = 'queued' AND run_at <= %(now)s AND priority = 2),
       count(*) FILTER (WHERE status = 'queued' AND run_at <= %(now)s AND priority = 3),
       count(*) FILTER (WHERE status = 'queued' AND run_at > %(now)s),
       count(*) FILTER (WHERE status = 'running'),
       count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'completed' AND completed_at > %(since)s),
       count(*) FILTER (WHERE status = 'failed' AND completed_at > %(since)s),
       min(run_at) FILTER (WHERE status = 'queued' AND run_at <= %(now)s)
FROM stackduck_jobs
GROUP BY job_type
ORDER BY job_type
