-- 0005: periodic schedules. One row per named schedule: the job it enqueues, its rule
-- (a cron expression in a time zone, or every N seconds), and its next tick. Every write
-- bumps version; a fire step writes over the version it read, in the transaction that
-- inserts the tick's job (ADR 0027).

CREATE TABLE stackduck_schedules (
    name          text PRIMARY KEY,
    job_type      text NOT NULL,
    payload       text NOT NULL,
    priority      smallint NOT NULL,
    delay         integer NOT NULL,
    max_retries   integer NOT NULL,
    timeout       double precision NOT NULL,
    metadata      text NOT NULL,
    cron          text NOT NULL,
    every_seconds integer NOT NULL,
    timezone      text NOT NULL,
    catch_up      boolean NOT NULL,
    paused        boolean NOT NULL,
    next_due      double precision NOT NULL,
    last_run      double precision,
    version       bigint NOT NULL,
    created_at    double precision NOT NULL,
    updated_at    double precision NOT NULL,
    CHECK ((cron <> '') <> (every_seconds > 0))
);

CREATE INDEX stackduck_schedules_due ON stackduck_schedules (next_due) WHERE NOT paused;
