-- Wait for, then hold until this transaction ends, the lock that serialises migrations:
-- several servers starting at once apply each migration exactly once.
SELECT pg_advisory_xact_lock(%(key)s)
