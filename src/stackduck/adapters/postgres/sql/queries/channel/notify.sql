-- Send a message to every server instance listening (listen.sql names the same channel).
SELECT pg_notify('stackduck_ready', %(message)s)
