-- Record a migration as applied (in the transaction that applied it).
INSERT INTO stackduck_migrations (version, name) VALUES (%(version)s, %(name)s)
