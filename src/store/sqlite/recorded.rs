//! The reads a sync's events need around SQLite's upsert (`SyncWriter::take_before`,
//! `SyncWriter::take_written`), by rowid: the look found the stored rows, and the upsert knows
//! the rows it wrote, so neither read searches a key or an id again.

use uuid::Uuid;

use crate::domain::schema::Entity;
use crate::domain::view::RecordView;
use crate::store::listing::{Bind, Dialect};
use crate::store::read::{columns, Reader};
use crate::store::StoreError;

use super::look::Stored;
use super::read::SqliteReader;
use super::sync::SqliteWriter;

/// The records of `entity` at the rowids `?1` lists (a JSON array of `[rowid, id]`), if they
/// still hold that id and are live.
fn by_rowid_sql(entity: Entity) -> String {
    format!(
        "SELECT {} FROM json_each(?1) AS r CROSS JOIN {} AS t \
         ON t.rowid = r.value ->> 0 AND t.id = r.value ->> 1 AND t.deleted_at IS NULL",
        columns(entity, Dialect::Sqlite),
        entity.plural()
    )
}

impl SqliteWriter<'_> {
    /// Reads the live stored rows the updates may change, before they run. A row whose
    /// rowid the memory of synced rows got wrong holds another id and is not read; the update
    /// then writes nothing and the sync runs again from the database (`StoreError::Misremembered`).
    pub(super) async fn read_before(
        &mut self,
        entity: Entity,
        stored: &[Option<Stored>],
    ) -> Result<(), StoreError> {
        let rows: Vec<(i64, Uuid)> = stored
            .iter()
            .flatten()
            .filter(|s| s.found.needs_write() && !s.found.deleted)
            .map(|s| (s.rowid, s.found.id))
            .collect();
        let before = self.by_rowid(entity, &rows).await?;
        self.recorded.before.extend(before);
        Ok(())
    }

    /// Notes rows the upsert created or changed, to be read once the sync is written.
    pub(super) fn note_written(&mut self, entity: Entity, rows: impl Iterator<Item = (i64, Uuid)>) {
        match self.recorded.written.last_mut() {
            Some((last, noted)) if *last == entity => noted.extend(rows),
            _ => self.recorded.written.push((entity, rows.collect())),
        }
    }

    /// The rows the upserts created or changed, as they are now.
    pub(super) async fn read_written(&mut self) -> Result<Vec<RecordView>, StoreError> {
        let mut records = Vec::new();
        for (entity, rows) in std::mem::take(&mut self.recorded.written) {
            records.extend(self.by_rowid(entity, &rows).await?);
        }
        Ok(records)
    }

    async fn by_rowid(
        &mut self,
        entity: Entity,
        rows: &[(i64, Uuid)],
    ) -> Result<Vec<RecordView>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let binds = [Bind::Text(
            serde_json::to_string(rows).expect("rowids and ids serialize"),
        )];
        SqliteReader(&mut *self.conn)
            .records(entity, &by_rowid_sql(entity), &binds)
            .await
    }
}

/// What a sync's upserts read and wrote, for its events.
#[derive(Default)]
pub(super) struct Recorded {
    pub before: Vec<RecordView>,
    pub written: Vec<(Entity, Vec<(i64, Uuid)>)>,
}
