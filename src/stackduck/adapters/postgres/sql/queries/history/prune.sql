-- Forget the charts' minutes older than the longest chart.
DELETE FROM stackduck_minutes WHERE minute < %(before)s
