-- Read jobs by id. The ids arrive as one comma-separated text, as in start.sql.
SELECT {columns} FROM stackduck_jobs WHERE id = ANY(string_to_array(%(ids)s, ',')::uuid[])
