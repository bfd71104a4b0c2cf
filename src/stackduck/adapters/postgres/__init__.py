"""PostgreSQL adapters (psycopg 3, async, pooled): the durable record of every job.

With Postgres alone, the jobs table is also the ready queue (claims with
``FOR UPDATE SKIP LOCKED``) and LISTEN/NOTIFY carries wake-ups between instances.
"""
