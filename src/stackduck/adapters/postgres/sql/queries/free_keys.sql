-- Forget a batch of idempotency keys whose jobs are gone and whose window ended before
-- a moment (retention). A row an enqueue is taking over just now is skipped, not waited
-- for: it is no longer one to forget.
DELETE FROM stackduck_idempotency i
USING (
    SELECT job_type, key FROM stackduck_idempotency
    WHERE NOT job_kept AND reserved_until < %(now)s
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS ended
WHERE i.job_type = ended.job_type AND i.key = ended.key
