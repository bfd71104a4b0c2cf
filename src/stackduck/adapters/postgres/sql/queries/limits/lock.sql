-- A limited claim's first step: lock the limits of its types (in one order, so two
-- claims never wait on each other in a circle) and read them with their buckets. No
-- other limited claim of these types runs until this transaction ends; the running
-- counts are read by the next statement, whose snapshot sees every claim committed
-- before.
SELECT job_type, concurrency, rate, per, burst, group_concurrency, tokens, counted_at
FROM stackduck_limits
WHERE job_type = ANY(%(job_types)s::text[])
ORDER BY job_type
FOR UPDATE
