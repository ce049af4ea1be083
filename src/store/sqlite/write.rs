//! The insert and update statements of an upsert, each run once over its rows as one JSON
//! parameter (`encode.rs`). They answer only counts and the last inserted rowid, with no
//! `RETURNING`, whose rows sqlx hands over one at a time
//! (docs/decisions/0003-sqlite-look-then-write-by-rowid.md).
//!
//! The rowids of inserted rows are inferred from the last one, and trusted only because an
//! update writes a row by rowid only if it holds the id sent with it
//! (`sync::tests::a_misremembered_rowid_writes_no_other_row`); an update of a rowid no row holds
//! fails rather than inserting
//! (`sync::tests::an_update_of_a_row_that_is_not_stored_fails_and_creates_nothing`).

use crate::store::StoreError;

use super::encode::{update_batch, UpdateRow};
use super::sql::{Update, UpsertSql};
use super::sync::SqliteWriter;

/// What an insert did: how many rows it inserted, and the rowid of the last.
pub(super) struct Inserted {
    count: u64,
    last_rowid: i64,
}

impl Inserted {
    /// The rowids of the `rows` it was given, if it inserted every one. SQLite gives a new
    /// row the rowid after the largest, and inserts in the order the batch lists the rows;
    /// relying on that order (not promised) is safe because an update writes a row by rowid
    /// only if it holds the id sent with it, and a sync that finds one that does not starts
    /// over (`StoreError::Misremembered`). An `ORDER BY` that would promise it cost the
    /// insert 0.17 ms of 2.7.
    pub fn rowids(&self, rows: usize) -> Option<std::ops::RangeInclusive<i64>> {
        (self.count == rows as u64).then(|| self.last_rowid - rows as i64 + 1..=self.last_rowid)
    }
}

impl SqliteWriter<'_> {
    /// Inserts the encoded rows that do not exist yet.
    pub(super) async fn insert(
        &mut self,
        sql: &str,
        encoded: &str,
    ) -> Result<Inserted, StoreError> {
        let done = sqlx::query(sql)
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(&self.now)
            .bind(encoded)
            .execute(&mut *self.conn)
            .await?;
        Ok(Inserted {
            count: done.rows_affected(),
            last_rowid: done.last_insert_rowid(),
        })
    }

    /// Updates the rows that differ, answering how many it wrote.
    pub(super) async fn update(
        &mut self,
        sql: &UpsertSql,
        references: bool,
        rows: &[UpdateRow<'_>],
    ) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let whole = rows.iter().all(|r| r.sends_every_column);
        let done = sqlx::query(&sql.updates[Update { references, whole }.slot()])
            .bind(&self.now)
            .bind(update_batch(rows))
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected())
    }
}
