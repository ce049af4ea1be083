//! The upsert's use of the memory of synced rows (`known.rs`): it reads what is known of a
//! batch's rows before any look, and records what it left stored once its statements ran. A dry
//! run has no memory and reads and records nothing.
//!
//! After an upsert the memory holds, for each of its rows, what is stored: a row it inserted,
//! updated or found unchanged is recorded with the fingerprint this sync sent, under the rowid
//! and id it is stored at; a row the updates left alone (it held every sent value already, so
//! it keeps an earlier sync's fingerprint) is not recorded but forgotten, so the next sync
//! looks it up. Guarded as a whole by the property tests `syncs_follow_the_model`,
//! `a_resend_changes_nothing` and `outside_writes_are_seen_by_later_syncs`, which sync the same
//! keys again and again through it; a memory gone wrong is refused rather than trusted
//! (`sync::tests::a_misremembered_rowid_writes_no_other_row`). Why the memory:
//! docs/decisions/0004-sqlite-memory-of-synced-rows.md.

use uuid::Uuid;

use crate::domain::schema::Entity;
use crate::domain::Scope;
use crate::store::{Found, UpsertRow};

use super::encode::EncodedRow;
use super::known::{KeyHash, KnownRow, KnownRows};
use super::look::Stored;
use super::sync::SqliteWriter;
use super::upsert::Written;

/// What is known of one scope's stored rows, if the sync keeps it.
#[derive(Clone, Copy)]
pub(super) struct Recall<'k> {
    known: Option<&'k KnownRows>,
    scope: Scope,
}

impl<'c> SqliteWriter<'c> {
    pub(super) fn recall(&self) -> Recall<'c> {
        Recall {
            known: self.known,
            scope: self.scope,
        }
    }
}

impl Recall<'_> {
    pub fn key_of(self, row: &UpsertRow<'_>) -> KeyHash {
        self.known
            .map(|known| known.key(row.key))
            .unwrap_or_default()
    }

    /// Per row: its stored row, if it is known.
    pub fn stored(self, entity: Entity, rows: &[EncodedRow<'_, '_>]) -> Vec<Option<Stored>> {
        let Some(known) = self.known else {
            return (0..rows.len()).map(|_| None).collect();
        };
        known.read(
            self.scope,
            entity,
            rows.iter().map(|row| row.known_as),
            |index, known| {
                let row = &rows[index];
                known.map(|known| Stored {
                    rowid: known.rowid,
                    remembered: true,
                    found: Found {
                        id: known.id,
                        deleted: false,
                        differs: known.fingerprint != row.sent.fingerprint,
                    },
                    references_differ: *known.refs != *row.row.refs,
                    floor: false,
                })
            },
        )
    }

    /// Records rows as stored under the given rowids and ids with what they sent.
    pub fn record<'r, 'a: 'r>(
        self,
        entity: Entity,
        rows: impl Iterator<Item = (EncodedRow<'r, 'a>, i64, Uuid)>,
    ) {
        if let Some(known) = self.known {
            let rows = rows.map(|(row, rowid, id)| {
                let known = KnownRow {
                    rowid,
                    id,
                    fingerprint: row.sent.fingerprint,
                    refs: row.row.refs.as_slice().into(),
                };
                (row.known_as, known)
            });
            known.record(self.scope, entity, rows);
        }
    }

    fn forget<'r, 'a: 'r>(self, entity: Entity, rows: impl Iterator<Item = EncodedRow<'r, 'a>>) {
        if let Some(known) = self.known {
            known.forget(self.scope, entity, rows.map(|row| row.known_as));
        }
    }

    /// Records what an upsert left stored: every row it wrote or found unchanged now holds
    /// what it sent, except the rows an update left alone and the rows the floor has acted
    /// on, which are forgotten. A floor row stores no fingerprint (`synced_fingerprint`), so
    /// every sync compares its values and reports the floor-owned ones it could not write
    /// (`ownership::a_sync_keeps_the_floors_status`); remembered, a re-send would pass as
    /// unchanged unread.
    pub fn keep(
        self,
        entity: Entity,
        rows: &[EncodedRow<'_, '_>],
        stored: &[Option<Stored>],
        written: &Written,
    ) {
        // A row known before and not written is known as it is. A row an update left alone is
        // forgotten: it keeps a fingerprint other than the one this sync sent.
        let known_already = |i: &usize| {
            stored[*i]
                .as_ref()
                .is_some_and(|s| s.remembered && !s.found.needs_write())
        };
        let floor = |i: &usize| stored[*i].as_ref().is_some_and(|s| s.floor);
        let kept = (0..rows.len())
            .filter(|&i| !written.unwritten[i] && !floor(&i))
            .filter(|i| !known_already(i))
            .map(|i| (rows[i], written.rowids[i], written.changes[i].0));
        self.record(entity, kept);
        let forgotten = (0..rows.len()).filter(|i| written.unwritten[*i] || floor(i));
        self.forget(entity, forgotten.map(|i| rows[i]));
    }
}
