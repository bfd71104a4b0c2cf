-- A fragment of delete.sql and prune.sql, after their `gone` (the jobs deleted): the
-- idempotency keys those jobs hold are locked in key order, then marked as no longer
-- kept by a job. The key stays held until its reserved_until; free_keys.sql forgets it.
held AS (
    SELECT i.job_type, i.key
    FROM stackduck_idempotency i
    JOIN gone g ON i.job_type = g.job_type AND i.key = g.idempotency_key AND i.job_id = g.id
    WHERE g.idempotency_key <> ''
    ORDER BY i.job_type, i.key
    FOR UPDATE OF i
),
released AS (
    UPDATE stackduck_idempotency i SET job_kept = false
    FROM held
    WHERE i.job_type = held.job_type AND i.key = held.key
)
