-- Hear the messages notify.sql sends, on this connection.
LISTEN stackduck_ready
