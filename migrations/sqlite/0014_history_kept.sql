-- What a sync sent that the floor's records kept (`kept` in a sync's answer): the history
-- shows it too, so "why did the ERP's status not arrive" has an answer after the fact
-- (`history::the_history_shows_what_the_floor_kept`). Older entries kept nothing they knew of.
ALTER TABLE sync_imports ADD COLUMN kept INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_imports ADD COLUMN kept_details TEXT NOT NULL DEFAULT '[]';
