//! The SQLite upsert of one entity level, as named steps: probe the first row (`first_row`),
//! try a new batch whole as an insert (`insert_all`), look up the stored rows (`look_up`), sort
//! the rows by what each needs (`plan.rs`), insert the new ones (`insert_new`), update the
//! changed ones (`write.rs`), check the rows the updates left alone (`left_alone`), and keep
//! what was written in the memory of synced rows (`recall.rs`). Each statement runs once over
//! the whole batch.
//!
//! Every row is answered once, in the batch's order: created (no stored row, or a deleted one
//! that comes back), updated (a sent value differed) or unchanged
//! (`semantics::a_batch_led_by_a_new_record_tells_every_record_apart`,
//! `semantics::bulk_results_keep_input_order_and_add_up`, the property test
//! `syncs_follow_the_model`). A row that is not stored where the memory put it refuses the
//! sync (`StoreError::Misremembered`) before any answer, so that it runs again from the
//! database (`sync::tests::a_misremembered_rowid_writes_no_other_row`).

use std::collections::HashSet;

use uuid::Uuid;

use crate::domain::outcome::Change;
use crate::domain::schema::Entity;
use crate::store::{StoreError, UpsertRow};

use super::encode::{encode, EncodedRow};
use super::look::Stored;
use super::overlap::meanwhile;
use super::plan::Plan;
use super::recall::Recall;
use super::sql::{upsert_sql, UpsertSql};
use super::sync::SqliteWriter;

/// What an upsert did to each row of its batch: its id and change, the rowid it is stored
/// under, and whether an update left it alone (every sent value was stored already).
pub(super) struct Written {
    pub changes: Vec<(Uuid, Change)>,
    pub rowids: Vec<i64>,
    pub unwritten: Vec<bool>,
}

impl SqliteWriter<'_> {
    /// Creates or updates every row (`SyncWriter::upsert`).
    ///
    /// A batch is most often all new (an initial load, a real-time create), all stored and
    /// unchanged (a nightly re-send) or all stored and changed, and its first record tells
    /// which. A new batch (and a single record) is tried whole as an insert, with no look.
    /// Otherwise the rows are looked up by key and fingerprint (or known without a look): a row
    /// whose last sync sent the same fingerprint is unchanged without reading a field, and the
    /// others go to an update that writes only the rows with a value that differs.
    pub(super) async fn upsert_batch(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
    ) -> Result<Vec<(Uuid, Change)>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let sql = upsert_sql(entity);
        let recall = self.recall();
        let (first, fresh) = self.first_row(sql, recall, entity, rows).await?;
        if first.is_none() {
            if let Some(created) = self.insert_all(sql, recall, entity, &fresh).await? {
                return Ok(created);
            }
        }
        let resent = first.is_some_and(|first| !first.found.needs_write());
        let (stored, fields) = self.look_up(sql, recall, entity, &fresh, resent).await?;
        let mut plan = Plan::of(&fresh, &stored, &fields);
        self.read_before(entity, &stored).await?;
        self.insert_new(sql, &mut plan).await?;
        let written = self.update(sql, true, &plan.updates).await?
            + self.update(sql, false, &plan.value_updates).await?;
        let unwritten = self
            .left_alone(sql, &fresh, &stored, &mut plan, written)
            .await?;
        let written = Written {
            changes: plan.changes,
            rowids: plan.rowids,
            unwritten,
        };
        recall.keep(entity, &fresh, &stored, &written);
        let changed = written.changes.iter().zip(&written.rowids);
        self.note_written(
            entity,
            changed
                .filter(|((_, change), _)| *change != Change::Unchanged)
                .map(|(&(id, _), &rowid)| (rowid, id)),
        );
        Ok(written.changes)
    }

    /// The first row's stored row (remembered, or looked up unless the batch is that one row),
    /// and every row encoded, the rows after the first while the look runs.
    async fn first_row<'r, 'a>(
        &mut self,
        sql: &UpsertSql,
        recall: Recall<'_>,
        entity: Entity,
        rows: &'r [UpsertRow<'a>],
    ) -> Result<(Option<Stored>, Vec<EncodedRow<'r, 'a>>), StoreError> {
        let mut scratch = Vec::new();
        let head = EncodedRow::of(&rows[0], &mut scratch, recall);
        let encode_all = |scratch: &mut Vec<u8>| {
            let mut fresh = Vec::with_capacity(rows.len());
            fresh.push(head);
            fresh.extend(
                rows[1..]
                    .iter()
                    .map(|row| EncodedRow::of(row, scratch, recall)),
            );
            fresh
        };
        let remembered = recall.stored(entity, &[head]).pop().flatten();
        if remembered.is_some() {
            return Ok((remembered, encode_all(&mut scratch)));
        }
        if rows.len() == 1 {
            return Ok((None, vec![head]));
        }
        let heads = [head];
        let (first, fresh) = meanwhile(self.fingerprints(&sql.key_look, &heads), || {
            encode_all(&mut scratch)
        })
        .await;
        Ok((first?.pop().flatten(), fresh))
    }

    /// Tries the whole batch as an insert: if every row was new, every row is created (and
    /// remembered) and the upsert is done. Otherwise the rows that existed were skipped.
    async fn insert_all(
        &mut self,
        sql: &UpsertSql,
        recall: Recall<'_>,
        entity: Entity,
        fresh: &[EncodedRow<'_, '_>],
    ) -> Result<Option<Vec<(Uuid, Change)>>, StoreError> {
        let inserted = self.insert(&sql.insert, &encode(fresh)).await?;
        let Some(rowids) = inserted.rowids(fresh.len()) else {
            return Ok(None);
        };
        let rows_at = fresh.iter().zip(rowids);
        recall.record(
            entity,
            rows_at
                .clone()
                .map(|(row, rowid)| (*row, rowid, row.row.id)),
        );
        self.note_written(entity, rows_at.map(|(row, rowid)| (rowid, row.row.id)));
        Ok(Some(
            fresh
                .iter()
                .map(|row| (row.row.id, Change::Created))
                .collect(),
        ))
    }

    /// Every row's stored row (remembered, or found by one look of the rows not remembered),
    /// and the update fields of the rows that need them, encoded while the look runs unless
    /// the first row says the batch is a re-send, which writes little or nothing.
    async fn look_up(
        &mut self,
        sql: &UpsertSql,
        recall: Recall<'_>,
        entity: Entity,
        fresh: &[EncodedRow<'_, '_>],
        resent: bool,
    ) -> Result<(Vec<Option<Stored>>, Vec<String>), StoreError> {
        let mut stored = recall.stored(entity, fresh);
        let unknown: Vec<usize> = (0..fresh.len()).filter(|&i| stored[i].is_none()).collect();
        let mut fields = if unknown.is_empty() {
            update_fields(fresh, &stored, resent)
        } else {
            let keys: Vec<EncodedRow> = unknown.iter().map(|&i| fresh[i]).collect();
            let (looked, fields) = meanwhile(self.fingerprints(&sql.key_look, &keys), || {
                update_fields(fresh, &stored, resent)
            })
            .await;
            for (&index, found) in unknown.iter().zip(looked?) {
                stored[index] = found;
            }
            fields
        };
        // A re-send encodes, once the look has answered, only the rows it found changed.
        for ((field, row), stored) in fields.iter_mut().zip(fresh).zip(&stored) {
            if field.is_empty() && stored.as_ref().is_some_and(|s| s.found.needs_write()) {
                *field = row.encoded_fields();
            }
        }
        Ok((stored, fields))
    }

    /// Inserts the rows no look found, and notes their rowids. SQLite has one writer, so
    /// nothing can insert between the look and the insert.
    async fn insert_new(
        &mut self,
        sql: &UpsertSql,
        plan: &mut Plan<'_, '_, '_>,
    ) -> Result<(), StoreError> {
        if plan.inserts.is_empty() {
            return Ok(());
        }
        let inserted = self.insert(&sql.insert, &encode(&plan.inserts)).await?;
        let Some(new_rowids) = inserted.rowids(plan.inserts.len()) else {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        };
        for (&index, rowid) in plan.inserted_at.iter().zip(new_rowids) {
            plan.rowids[index] = rowid;
        }
        Ok(())
    }

    /// Per row, whether the updates left it alone, found once they wrote fewer rows than they
    /// were given; such a row is answered unchanged.
    async fn left_alone(
        &mut self,
        sql: &UpsertSql,
        fresh: &[EncodedRow<'_, '_>],
        stored: &[Option<Stored>],
        plan: &mut Plan<'_, '_, '_>,
        written: u64,
    ) -> Result<Vec<bool>, StoreError> {
        let mut unwritten = vec![false; fresh.len()];
        if written < (plan.updates.len() + plan.value_updates.len()) as u64 {
            // A written row now carries the fingerprint this sync sent; one still carrying
            // another held every sent value already, unless it is not stored where this sync
            // remembered it (the update then left it alone, as it holds another id).
            let suspects: Vec<EncodedRow> =
                plan.maybe_unchanged.iter().map(|&i| fresh[i]).collect();
            let after = self.fingerprints(&sql.key_look, &suspects).await?;
            // A floor row carries no fingerprint, written or not: its `synced_at` tells
            // (`quantities::a_part_says_when_its_totals_change` re-sequences two such rows,
            // one of them changed, and the changed one was answered unchanged, with no event).
            let floor_rows: Vec<i64> = after
                .iter()
                .flatten()
                .filter(|a| a.floor)
                .map(|a| a.rowid)
                .collect();
            let synced_now = self.synced_now(sql, &floor_rows).await?;
            for (&index, after) in plan.maybe_unchanged.iter().zip(after) {
                let before = stored[index].as_ref().map(|s| (s.rowid, s.found.id));
                match after {
                    Some(after) if Some((after.rowid, after.found.id)) != before => {
                        return Err(StoreError::Misremembered);
                    }
                    Some(Stored {
                        floor: true,
                        rowid,
                        found,
                        ..
                    }) => {
                        if !synced_now.contains(&rowid) {
                            plan.changes[index] = found.change(false);
                            unwritten[index] = true;
                        }
                    }
                    Some(Stored { found, .. }) if found.differs => {
                        plan.changes[index] = found.change(false);
                        unwritten[index] = true;
                    }
                    Some(_) => {}
                    None => return Err(StoreError::Misremembered),
                }
            }
        }
        Ok(unwritten)
    }

    /// Of these rows (rowids), those this sync's updates wrote.
    async fn synced_now(
        &mut self,
        sql: &UpsertSql,
        rowids: &[i64],
    ) -> Result<HashSet<i64>, StoreError> {
        if rowids.is_empty() {
            return Ok(HashSet::new());
        }
        let found: String = sqlx::query_scalar(&sql.synced_now)
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(encode(&rowids))
            .bind(&self.now)
            .fetch_one(&mut *self.conn)
            .await?;
        serde_json::from_str(&found)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
    }
}

/// Each row's update fields if it may need an update, else nothing: a row known changed, or
/// one not known yet unless the batch is a re-send.
fn update_fields(
    fresh: &[EncodedRow<'_, '_>],
    stored: &[Option<Stored>],
    resent: bool,
) -> Vec<String> {
    let needs_fields =
        |stored: &Option<Stored>| stored.as_ref().map_or(!resent, |s| s.found.needs_write());
    fresh
        .iter()
        .zip(stored)
        .map(|(row, s)| {
            if needs_fields(s) {
                row.encoded_fields()
            } else {
                String::new()
            }
        })
        .collect()
}
