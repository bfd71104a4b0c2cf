-- The jobs browser's filters (a listing's and a bulk count's): status, type, priority,
-- group, waiting for its time, a metadata value (by stackduck_jobs_metadata, the jobs
-- with metadata's index); a NULL parameter filters nothing.
(%(status)s::text IS NULL OR status = %(status)s::text)
AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s::text)
AND (%(priority)s::smallint IS NULL OR priority = %(priority)s::smallint)
AND (%(group)s::text IS NULL OR group_key = %(group)s::text)
AND (%(scheduled)s::boolean IS NULL
     OR (status = 'queued' AND run_at > %(now)s::float8) = %(scheduled)s::boolean)
AND (%(meta_key)s::text IS NULL
     OR (metadata <> ''
         AND metadata::jsonb @> jsonb_build_object(%(meta_key)s::text, %(meta_value)s::text)))
