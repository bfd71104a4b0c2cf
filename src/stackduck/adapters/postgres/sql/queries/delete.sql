-- Delete jobs by id that are in one of the given states and, unless `before` is NULL,
-- finished before that moment. The ids arrive as one comma-separated text, as in start.sql.
DELETE FROM stackduck_jobs
WHERE id = ANY(string_to_array(%(ids)s, ',')::uuid[])
  AND status = ANY(%(statuses)s::text[])
  AND (%(before)s::double precision IS NULL OR completed_at < %(before)s)
