-- A page of jobs in the order asked ({order}: by id either way, or queued jobs by due
-- time, {after} the keyset condition that continues a page), filtered by whichever of
-- status, type, priority, group, waiting for its time, and a metadata value are given
-- (NULL: not filtered on): at most %(limit)s
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
    WHERE (%(status)s::text IS NULL OR status = %(status)s::text)
      AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s::text)
      AND (%(priority)s::smallint IS NULL OR priority = %(priority)s::smallint)
      AND (%(group)s::text IS NULL OR group_key = %(group)s::text)
      AND (%(scheduled)s::boolean IS NULL
           OR (status = 'queued' AND run_at > %(now)s::float8) = %(scheduled)s::boolean)
      AND (%(meta_key)s::text IS NULL
           OR (metadata <> '' AND metadata::jsonb ->> %(meta_key)s::text = %(meta_value)s::text))
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
