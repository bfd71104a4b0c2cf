-- The lease, the domain's start move (Job.start) in SQL: the SET list that claim.sql and
-- start.sql put where they say {lease}. It reads the row as `j`.
status = 'running',
    attempt = j.attempt + 1,
    lease_owner = %(worker_id)s,
    lease_expires_at = %(now)s + %(lease_seconds)s,
    started_at = %(now)s,
    updated_at = %(now)s,
    version = j.version + 1
