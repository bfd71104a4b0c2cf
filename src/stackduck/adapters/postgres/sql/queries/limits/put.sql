-- Create or replace a type's limit. An existing bucket keeps its tokens, at most the new
-- size (domain.limits.Limit.bucket_size); a new one, or one that had no rate, is full
-- (NULL); a limit without a rate has none.
INSERT INTO stackduck_limits AS l (
    job_type, concurrency, rate, per, burst, group_concurrency, tokens, counted_at, updated_at
)
VALUES (
    %(job_type)s, %(concurrency)s, %(rate)s, %(per)s, %(burst)s, %(group_concurrency)s, NULL, NULL, %(now)s
)
ON CONFLICT (job_type) DO UPDATE
SET concurrency = excluded.concurrency,
    rate = excluded.rate,
    per = excluded.per,
    burst = excluded.burst,
    group_concurrency = excluded.group_concurrency,
    tokens = CASE WHEN excluded.rate > 0 AND l.tokens IS NOT NULL THEN least(l.tokens, %(size)s) END,
    counted_at = CASE WHEN excluded.rate > 0 AND l.tokens IS NOT NULL THEN l.counted_at END,
    updated_at = excluded.updated_at
