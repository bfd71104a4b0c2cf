-- The versions of the migrations applied so far.
SELECT version FROM stackduck_migrations
