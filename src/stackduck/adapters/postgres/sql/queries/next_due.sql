-- When the next queued job falls due after the scheduler's last look (NULL: none is
-- waiting for its time).
SELECT min(run_at) FROM stackduck_jobs WHERE status = 'queued' AND run_at > %(after)s
