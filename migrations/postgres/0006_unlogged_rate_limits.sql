-- Rate-limit counters are worth a WAL record and a flush per request to nobody: after a crash
-- the current minute's counts may start again from zero, which only lets a key through a
-- little early. An unlogged table skips both.
ALTER TABLE rate_limit_windows SET UNLOGGED;
