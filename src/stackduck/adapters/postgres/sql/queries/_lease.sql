-- The start move, the one copy of it in SQL: mirrors stackduck.domain.job.Job.start
-- (status running, attempt + 1, the lease, started_at, updated_at, version + 1). Put
-- after SET by the statements that lease (claim.sql, start.sql); the contract tests
-- (tests/integration/contract/) hold each of them equal to the domain's move.
status = 'running',
    attempt = j.attempt + 1,
    lease_owner = %(worker_id)s,
    lease_expires_at = %(now)s + %(lease_seconds)s,
    started_at = %(now)s,
    updated_at = %(now)s,
    version = j.version + 1
