//! The look-up of stored rows. The key look finds, for the rows of a batch, the stored row of
//! each key in this tenant and mode, deleted or not, and says whether the fingerprint its last
//! sync sent (or a reference) differs from this batch's, so an unchanged row is told without
//! reading a field (docs/decisions/0002-sync-fingerprint.md). Every look answers one row
//! holding a JSON array (`fetch_json`), as sqlx hands SQLite's rows over one at a time
//! (docs/decisions/0007-sqlite-answers-in-one-json-row.md).
//!
//! Each answer names its batch row by index, so a row is matched to its own stored row whatever
//! order SQLite answers in (`semantics::a_batch_led_by_a_new_record_tells_every_record_apart`,
//! `semantics::an_unchanged_resync_writes_nothing`).

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::store::{Found, StoreError};

use super::encode::{encode, EncodedRow};
use super::sync::SqliteWriter;

/// A batch row's stored row, as a look found it or as it is known.
pub(super) struct Stored {
    pub rowid: i64,
    /// Whether it is known without a look.
    pub remembered: bool,
    pub found: Found,
    /// Whether a reference the record sent differs from the stored one (its values may
    /// differ too, as `found.differs` says).
    pub references_differ: bool,
    /// Whether the floor has acted on the row, which then stores no fingerprint.
    pub floor: bool,
}

impl SqliteWriter<'_> {
    /// Runs a query of this tenant and mode (`?1`, `?2`) over a batch (`?3`) whose one row is a
    /// JSON array of every answer. sqlx hands SQLite's rows over from its worker thread one at
    /// a time, which cost more than the statements themselves (a look of 1000 stored jobs: 7–9
    /// ms as rows, 4 ms as one array).
    pub(super) async fn fetch_json<T: DeserializeOwned>(
        &mut self,
        sql: &str,
        batch: impl AsRef<str>,
    ) -> Result<Vec<T>, StoreError> {
        let found: String = sqlx::query_scalar(sql)
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(batch.as_ref())
            .fetch_one(&mut *self.conn)
            .await?;
        serde_json::from_str(&found)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
    }

    /// Per row of the batch: the stored row, if there is one.
    async fn look(
        &mut self,
        sql: &str,
        batch: &str,
        rows: usize,
    ) -> Result<Vec<Option<Stored>>, StoreError> {
        let found: Vec<(usize, i64, Uuid, u8, u8)> = self.fetch_json(sql, batch).await?;
        let mut stored: Vec<Option<Stored>> = (0..rows).map(|_| None).collect();
        for (index, rowid, id, deleted, differs) in found {
            stored[index] = Some(Stored {
                rowid,
                remembered: false,
                found: Found {
                    id,
                    deleted: deleted != 0,
                    differs: differs & 3 != 0,
                },
                references_differ: differs & 2 != 0,
                floor: differs & 4 != 0,
            });
        }
        Ok(stored)
    }

    /// Per row: the stored row, if there is one, with `differs` saying whether its last sync
    /// sent another fingerprint (so its fields may differ).
    pub(super) async fn fingerprints(
        &mut self,
        sql: &str,
        rows: &[EncodedRow<'_, '_>],
    ) -> Result<Vec<Option<Stored>>, StoreError> {
        let keys: Vec<_> = rows.iter().copied().map(EncodedRow::key).collect();
        self.look(sql, &encode(&keys), rows.len()).await
    }
}
