-- The health probe: the database answers a query.
SELECT 1
