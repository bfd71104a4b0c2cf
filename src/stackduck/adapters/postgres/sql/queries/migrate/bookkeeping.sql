-- The table of migrations applied, created the first time.
CREATE TABLE IF NOT EXISTS stackduck_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
