-- The job types with groups: every type with a row (the group '' rows of mark.sql stay),
-- one index probe a type (a skip scan of the primary key), however many groups wait.
WITH RECURSIVE types AS (
    (SELECT job_type FROM stackduck_groups ORDER BY job_type LIMIT 1)
    UNION ALL
    SELECT (SELECT g.job_type FROM stackduck_groups AS g WHERE g.job_type > t.job_type ORDER BY g.job_type LIMIT 1)
    FROM types AS t
    WHERE t.job_type IS NOT NULL
)
SELECT job_type FROM types WHERE job_type IS NOT NULL
