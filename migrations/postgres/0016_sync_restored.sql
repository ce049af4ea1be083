-- Whether the sync that last wrote the row found it deleted, as the row stood when the sync's
-- upsert locked it: its RETURNING answers this, so a sync whose statement began before a
-- concurrent DELETE committed still says `restored` (a snapshot read said `updated`;
-- races::a_sync_racing_a_delete_names_what_it_did). Meaningful only in that answer.
ALTER TABLE jobs ADD COLUMN sync_restored boolean NOT NULL DEFAULT false;
ALTER TABLE parts ADD COLUMN sync_restored boolean NOT NULL DEFAULT false;
ALTER TABLE operations ADD COLUMN sync_restored boolean NOT NULL DEFAULT false;
ALTER TABLE cells ADD COLUMN sync_restored boolean NOT NULL DEFAULT false;
ALTER TABLE resources ADD COLUMN sync_restored boolean NOT NULL DEFAULT false;
