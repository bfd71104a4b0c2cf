-- Write the buckets a limited claim spent (domain.limits.Limit.spend).
UPDATE stackduck_limits AS l
SET tokens = spent.tokens, counted_at = spent.counted_at
FROM unnest(%(job_types)s::text[], %(tokens)s::float8[], %(counted_at)s::float8[])
    AS spent (job_type, tokens, counted_at)
WHERE l.job_type = spent.job_type
