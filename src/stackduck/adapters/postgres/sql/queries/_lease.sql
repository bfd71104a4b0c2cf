-- The start move, the one copy of it in SQL: mirrors stackduck.domain.job.Job.start
-- (status running, attempt + 1, the attempt's deadline where the job has a timeout, the
-- lease cut at that deadline, started_at, updated_at, version + 1). Put
-- after SET by the statements that lease (claim.sql, start.sql); the contract tests
-- (tests/integration/contract/) hold each of them equal to the domain's move. {owner} is
-- the worker the job is leased to, as the statement knows it (one per job or one for all).
status = 'running',
    attempt = j.attempt + 1,
    lease_owner = {owner},
    attempt_deadline = CASE WHEN j.timeout > 0 THEN %(now)s + j.timeout END,
    lease_expires_at = CASE
        WHEN j.timeout > 0 THEN least(%(now)s + %(lease_seconds)s, %(now)s + j.timeout)
        ELSE %(now)s + %(lease_seconds)s
    END,
    started_at = %(now)s,
    updated_at = %(now)s,
    version = j.version + 1
