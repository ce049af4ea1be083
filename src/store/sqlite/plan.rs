//! The rows of an upsert's batch sorted by what each needs, once every stored row is known:
//! an insert (no stored row), nothing (its stored row is unchanged, or is the one this sync just
//! inserted), or an update, with its references (one differs, or the row was deleted and comes
//! back whole) or without them. Each row's answer is settled here, but for the rows an update
//! may leave alone (`upsert.rs`, `left_alone`).
//!
//! A live row that carries the fingerprint sent, with the same references, is not written and
//! is answered unchanged (`semantics::an_unchanged_resync_writes_nothing`); a deleted row sent
//! again comes back with every column and is answered created (`control::delete_read_restore`,
//! `control::a_child_deleted_by_replace_comes_back_when_sent_again`).

use uuid::Uuid;

use crate::domain::outcome::Change;

use super::encode::{EncodedRow, UpdateRow};
use super::look::Stored;

/// The rows of a batch sorted by what each needs, once every stored row is known, and each
/// row's answer as far as it is known before the writes.
pub(super) struct Plan<'r, 'a, 'f> {
    pub changes: Vec<(Uuid, Change)>,
    /// Each row's rowid: its stored row's, or (once inserted) its new row's.
    pub rowids: Vec<i64>,
    /// The rows no look found, and their positions in the batch.
    pub inserts: Vec<EncodedRow<'r, 'a>>,
    pub inserted_at: Vec<usize>,
    /// Changed rows written with their references: a reference differs, or the row was
    /// deleted and comes back whole.
    pub updates: Vec<UpdateRow<'f>>,
    /// Changed rows whose references stay.
    pub value_updates: Vec<UpdateRow<'f>>,
    /// Rows whose fingerprint differs but whose values may all be stored already.
    pub maybe_unchanged: Vec<usize>,
}

impl<'r, 'a, 'f> Plan<'r, 'a, 'f> {
    pub fn of(
        fresh: &[EncodedRow<'r, 'a>],
        stored: &[Option<Stored>],
        fields: &'f [String],
    ) -> Self {
        let mut plan = Plan {
            changes: Vec::with_capacity(fresh.len()),
            rowids: stored
                .iter()
                .map(|s| s.as_ref().map_or(0, |s| s.rowid))
                .collect(),
            inserts: Vec::new(),
            inserted_at: Vec::new(),
            updates: Vec::new(),
            value_updates: Vec::new(),
            maybe_unchanged: Vec::new(),
        };
        for (index, (encoded, stored)) in fresh.iter().zip(stored).enumerate() {
            let id = encoded.row.id;
            let change = match stored {
                None => {
                    plan.inserts.push(*encoded);
                    plan.inserted_at.push(index);
                    (id, Change::Created)
                }
                // Inserted by the whole-batch insert (`insert_all`), under the id this sync
                // gave it.
                Some(Stored { found, .. }) if found.id == id => (id, Change::Created),
                Some(Stored { found, .. }) if !found.needs_write() => found.change(false),
                Some(stored) => {
                    let found = &stored.found;
                    let update = UpdateRow {
                        rowid: stored.rowid,
                        id: found.id,
                        fields: &fields[index],
                        sends_every_column: encoded.sends_every_column(),
                    };
                    // A deleted row comes back whole, references included.
                    if stored.references_differ || found.deleted {
                        plan.updates.push(update);
                    } else {
                        plan.value_updates.push(update);
                    }
                    if !found.deleted {
                        plan.maybe_unchanged.push(index);
                    }
                    found.change(true)
                }
            };
            plan.changes.push(change);
        }
        plan
    }
}
