-- How many jobs the jobs browser's filters match (what a bulk action confirms).
SELECT count(*) FROM stackduck_jobs WHERE {job_filter}
