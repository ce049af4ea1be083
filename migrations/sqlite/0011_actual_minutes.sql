-- The floor's actual times in whole minutes, as a record shows them (`GET`, sync events):
-- kept beside the seconds they round, to the nearest minute, by every lifecycle action
-- (`store/floor.rs`; `floor_records::reads_show_the_floors_actual_minutes`).
ALTER TABLE jobs ADD COLUMN actual_duration_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN actual_time_minutes INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET actual_duration_minutes = (active_seconds + 30) / 60 WHERE active_seconds > 0;
UPDATE operations SET actual_time_minutes = (worked_seconds + 30) / 60 WHERE worked_seconds > 0;
