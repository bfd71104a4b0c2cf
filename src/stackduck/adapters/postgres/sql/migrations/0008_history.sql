-- 0008: the dashboard's charts. Per minute and job type, what every instance counted
-- (added together), and the queue as sampled in that minute; kept for a day.
CREATE TABLE stackduck_minutes (
    minute      bigint NOT NULL,  -- Unix seconds at the minute's start
    job_type    text NOT NULL,
    enqueued    bigint NOT NULL DEFAULT 0,
    completed   bigint NOT NULL DEFAULT 0,
    retried     bigint NOT NULL DEFAULT 0,
    dead        bigint NOT NULL DEFAULT 0,
    runs        bigint[] NOT NULL,  -- completed jobs per run-time bucket
    depth       bigint,             -- due jobs waiting when sampled (NULL: not sampled)
    oldest_wait double precision,   -- seconds the oldest of them had waited then
    PRIMARY KEY (minute, job_type)
);
