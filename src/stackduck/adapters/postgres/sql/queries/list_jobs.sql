-- A page of jobs in the order asked ({order}: by id either way, or queued jobs by due
-- time, {after} the keyset condition that continues a page), filtered by whichever of
-- the browser's filters are given (_job_filter.sql): at most %(limit)s
-- jobs, as many as fit in %(max_bytes)s counted as ports.listed_bytes does (the first
-- job whatever its size). Sizes come first, from octet_length, which reads a stored
-- value's length without loading it; only the jobs kept are joined back for their
-- columns. One row past the page, if there is one, comes back too, with kept = false
-- and nothing else: it says there is more.
WITH sized AS (
    SELECT id,
           row_number() OVER w AS n,
           sum(octet_length(payload) + octet_length(error_message) + octet_length(job_type)
               + coalesce(octet_length(lease_owner), 0) + octet_length(metadata)
               + coalesce(octet_length(result), 0) + %(job_bytes)s
               + (SELECT coalesce(sum(octet_length(a->>5) + octet_length(a->>1)  -- error, worker id
                                      + %(attempt_bytes)s), 0)
                  FROM jsonb_array_elements(attempts) AS a)) OVER w AS total
    FROM stackduck_jobs
    WHERE {job_filter}
      AND {after}
    WINDOW w AS (ORDER BY {order})
    ORDER BY {order}
    LIMIT %(limit)s + 1
), page AS (
    SELECT id, n, n <= %(limit)s AND (n = 1 OR total <= %(max_bytes)s) AS kept FROM sized
)
SELECT page.kept, {j.columns}
FROM page
LEFT JOIN stackduck_jobs j ON j.id = page.id AND page.kept
WHERE page.n <= (SELECT count(*) FROM page WHERE kept) + 1
ORDER BY page.n
