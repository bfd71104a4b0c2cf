-- Store a batch of new jobs of which some have an idempotency key, in one statement
-- (all or nothing), and say which job holds each key. Each key is claimed in
-- stackduck_idempotency first, in key order (every statement that writes keys locks them
-- in that order, so none waits on another in a circle); a job with a key is stored only
-- if it holds the key then. A job takes the key when no row holds it, or takes over a
-- row whose job is gone and whose window ended before %(now)s. A row that stands is
-- updated to itself: it is locked (a concurrent enqueue of the key waits for this one's
-- outcome), and RETURNING gives its holder as committed, which a statement that merely
-- waited for the row could not see under READ COMMITTED. The keys are distinct within
-- the batch (the store keeps later copies out). The batch is one JSON array of objects,
-- as in insert.sql. Returns per key its holder: the job offered with it if it was stored.
WITH r AS (
    SELECT *
    FROM json_to_recordset(%(jobs)s::json) AS r (
        id uuid, job_type text, payload text, priority smallint, delay integer,
        max_retries integer, status text, run_at float8, created_at float8, updated_at float8,
        retry_count integer, attempt integer, error_message text, started_at float8,
        completed_at float8, lease_owner text, lease_expires_at float8, version bigint,
        idempotency_key text, timeout float8, metadata text, result text,
        attempt_deadline float8, attempts jsonb, group_key text
    )
),
held AS (
    INSERT INTO stackduck_idempotency AS i (job_type, key, job_id, reserved_until)
    SELECT job_type, idempotency_key, id, created_at + %(key_seconds)s
    FROM r
    WHERE idempotency_key <> ''
    ORDER BY job_type, idempotency_key
    ON CONFLICT (job_type, key) DO UPDATE SET
        job_id = CASE WHEN NOT i.job_kept AND i.reserved_until < %(now)s
                      THEN EXCLUDED.job_id ELSE i.job_id END,
        reserved_until = CASE WHEN NOT i.job_kept AND i.reserved_until < %(now)s
                              THEN EXCLUDED.reserved_until ELSE i.reserved_until END,
        job_kept = i.job_kept OR i.reserved_until < %(now)s
    RETURNING i.job_type, i.key, i.job_id
),
stored AS (
    INSERT INTO stackduck_jobs (
        id, job_type, payload, priority, delay, max_retries, status, run_at, created_at,
        updated_at, retry_count, attempt, error_message, started_at, completed_at,
        lease_owner, lease_expires_at, version, idempotency_key, timeout, metadata, result,
        attempt_deadline, attempts, group_key
    )
    SELECT
        id, job_type, payload, priority, delay, max_retries, status, run_at, created_at,
        updated_at, retry_count, attempt, error_message, started_at, completed_at,
        lease_owner, lease_expires_at, version, idempotency_key, timeout, metadata, result,
        attempt_deadline, attempts, group_key
    FROM r
    WHERE idempotency_key = '' OR id IN (SELECT job_id FROM held)
)
SELECT job_type, key, job_id::text FROM held
