//! SQLite's set-based upserts. A batch travels as one JSON parameter (`json_each`), so each
//! step is one statement whatever the batch size: look up the stored rows (and which of them
//! differ from what was sent), then insert only the new rows and update only the changed ones.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::future::Future;
use std::task::Poll;

use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::domain::outcome::Change;
use crate::domain::patch::Patch;
use crate::domain::schema::Entity;
use crate::domain::Scope;
use crate::store::{Found, Retired, StoreError, SyncWriter, UpsertRow};

use super::known::{KeyHash, KnownRow, KnownRows};
use super::sql::{self, upsert_sql, Update, UpsertSql};

/// Position of the first column value in a row to insert: `[id, source, external_id, mask,
/// fingerprint, …]`.
pub(super) const INSERTED_VALUES: usize = 5;
/// The same in a row to update, which names its stored row by rowid and id: `[rowid, id,
/// mask, fingerprint, …]`.
pub(super) const UPDATED_VALUES: usize = 4;

pub(super) struct SqliteWriter<'c> {
    pub conn: &'c mut SqliteConnection,
    pub scope: Scope,
    pub now: String,
    /// What is known of the stored rows, kept up to date as the sync writes; none for a dry
    /// run, which keeps nothing.
    pub known: Option<&'c KnownRows>,
}

/// A batch row's stored row, as a look found it or as it is known.
struct Stored {
    rowid: i64,
    /// Whether it is known without a look.
    remembered: bool,
    found: Found,
    /// Whether a reference the record sent differs from the stored one (its values may
    /// differ too, as `found.differs` says).
    references_differ: bool,
}

/// Which columns a row sends (bit k for column k; references are always sent), and the
/// fingerprint of what it sends.
#[derive(Clone, Copy)]
struct Sent {
    mask: u64,
    fingerprint: i64,
}

impl Sent {
    fn of(row: &UpsertRow<'_>, scratch: &mut Vec<u8>) -> Sent {
        let mask = row.mask();
        Sent {
            mask,
            fingerprint: row.fingerprint(mask, scratch),
        }
    }
}

/// A row as the insert reads it: `[id, source, external_id, mask, fingerprint, refs…,
/// values…]`.
#[derive(Clone, Copy)]
struct EncodedRow<'r, 'a> {
    row: &'r UpsertRow<'a>,
    sent: Sent,
    /// The row's key as what is known of stored rows names it.
    known_as: KeyHash,
}

impl<'r, 'a> EncodedRow<'r, 'a> {
    fn of(row: &'r UpsertRow<'a>, scratch: &mut Vec<u8>, recall: Recall<'_>) -> Self {
        EncodedRow {
            row,
            sent: Sent::of(row, scratch),
            known_as: recall.key_of(row),
        }
    }

    fn sends_every_column(&self) -> bool {
        self.sent.mask.count_ones() as usize == self.row.refs.len() + self.row.values.len()
    }

    /// The row as the key look reads it: `[source, external_id, fingerprint, refs…]`.
    fn key(self) -> KeyRow<'r, 'a> {
        KeyRow(self)
    }

    /// What an update writes of the row, `[mask, fingerprint, refs…, values…]`, as JSON.
    fn encoded_fields(self) -> String {
        encode(&Fields(self))
    }
}

/// What an upsert did to each row of its batch: its id and change, the rowid it is stored
/// under, and whether an update left it alone (every sent value was stored already).
struct Written {
    changes: Vec<(Uuid, Change)>,
    rowids: Vec<i64>,
    unwritten: Vec<bool>,
}

/// What an insert did: how many rows it inserted, and the rowid of the last.
struct Inserted {
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
    fn rowids(&self, rows: usize) -> Option<std::ops::RangeInclusive<i64>> {
        (self.count == rows as u64).then(|| self.last_rowid - rows as i64 + 1..=self.last_rowid)
    }
}

/// A stored row to update: its rowid and id, and its fields as [`EncodedRow::encoded_fields`]
/// gave them.
struct UpdateRow<'f> {
    rowid: i64,
    id: Uuid,
    fields: &'f str,
    sends_every_column: bool,
}

/// The rows to update as the update statements read them: `[[rowid, id, mask, fingerprint,
/// refs…, values…], …]`.
fn update_batch(rows: &[UpdateRow<'_>]) -> String {
    let length = rows.iter().map(|r| r.fields.len() + 64).sum::<usize>();
    let mut batch = String::with_capacity(length + 2);
    batch.push('[');
    for (k, row) in rows.iter().enumerate() {
        if k > 0 {
            batch.push(',');
        }
        // `fields` is a JSON array; the rowid and id go first in it.
        let fields = row.fields.strip_prefix('[').unwrap_or(row.fields);
        write!(batch, "[{},\"{}\",{fields}", row.rowid, row.id.hyphenated())
            .expect("writing to a String never fails");
    }
    batch.push(']');
    batch
}

struct KeyRow<'r, 'a>(EncodedRow<'r, 'a>);

impl Serialize for KeyRow<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0.row;
        let mut seq = serializer.serialize_seq(Some(3 + row.refs.len()))?;
        seq.serialize_element(&row.key.source)?;
        seq.serialize_element(&row.key.external_id)?;
        seq.serialize_element(&self.0.sent.fingerprint)?;
        let mut text = Uuid::encode_buffer();
        for id in &row.refs {
            seq.serialize_element(&*id.hyphenated().encode_lower(&mut text))?;
        }
        seq.end()
    }
}

impl Serialize for EncodedRow<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.row;
        let length = INSERTED_VALUES + row.refs.len() + row.values.len();
        let mut seq = serializer.serialize_seq(Some(length))?;
        let mut text = Uuid::encode_buffer();
        seq.serialize_element(&*row.id.hyphenated().encode_lower(&mut text))?;
        seq.serialize_element(&row.key.source)?;
        seq.serialize_element(&row.key.external_id)?;
        serialize_fields(&mut seq, *self)?;
        seq.end()
    }
}

/// A row's `[mask, fingerprint, refs…, values…]`.
struct Fields<'r, 'a>(EncodedRow<'r, 'a>);

impl Serialize for Fields<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0.row;
        let length = UPDATED_VALUES - 2 + row.refs.len() + row.values.len();
        let mut seq = serializer.serialize_seq(Some(length))?;
        serialize_fields(&mut seq, self.0)?;
        seq.end()
    }
}

fn serialize_fields<S: SerializeSeq>(
    seq: &mut S,
    encoded: EncodedRow<'_, '_>,
) -> Result<(), S::Error> {
    let row = encoded.row;
    seq.serialize_element(&encoded.sent.mask)?;
    seq.serialize_element(&encoded.sent.fingerprint)?;
    let mut text = Uuid::encode_buffer();
    for id in &row.refs {
        seq.serialize_element(&*id.hyphenated().encode_lower(&mut text))?;
    }
    for value in row.values {
        match value {
            Patch::Value(scalar) => seq.serialize_element(scalar)?,
            Patch::Null | Patch::Absent => seq.serialize_element(&())?,
        }
    }
    Ok(())
}

/// Runs `work` on this thread while `statement` runs on sqlx's worker thread, and answers
/// both. A sqlx statement is handed to the worker when first polled, so polling it once
/// before `work` overlaps the two.
async fn meanwhile<S: Future, T>(statement: S, work: impl FnOnce() -> T) -> (S::Output, T) {
    let mut statement = std::pin::pin!(statement);
    let early = std::future::poll_fn(|cx| Poll::Ready(statement.as_mut().poll(cx))).await;
    let done = work();
    let output = match early {
        Poll::Ready(output) => output,
        Poll::Pending => statement.await,
    };
    (output, done)
}

pub(super) fn parse_id(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

fn encode<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain values always serialize")
}

/// What is known of one scope's stored rows, if the sync keeps it.
#[derive(Clone, Copy)]
struct Recall<'k> {
    known: Option<&'k KnownRows>,
    scope: Scope,
}

impl Recall<'_> {
    fn key_of(self, row: &UpsertRow<'_>) -> KeyHash {
        self.known
            .map(|known| known.key(row.key))
            .unwrap_or_default()
    }

    /// Per row: its stored row, if it is known.
    fn stored(self, entity: Entity, rows: &[EncodedRow<'_, '_>]) -> Vec<Option<Stored>> {
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
                })
            },
        )
    }

    /// Records rows as stored under the given rowids and ids with what they sent.
    fn record<'r, 'a: 'r>(
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
    /// what it sent, except the rows an update left alone, which are forgotten.
    fn keep(
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
        let kept = (0..rows.len())
            .filter(|&i| !written.unwritten[i])
            .filter(|i| !known_already(i))
            .map(|i| (rows[i], written.rowids[i], written.changes[i].0));
        self.record(entity, kept);
        let left_alone = (0..rows.len()).filter(|&i| written.unwritten[i]);
        self.forget(entity, left_alone.map(|i| rows[i]));
    }
}

impl<'c> SqliteWriter<'c> {
    fn recall(&self) -> Recall<'c> {
        Recall {
            known: self.known,
            scope: self.scope,
        }
    }
}

impl SqliteWriter<'_> {
    fn tenant(&self) -> String {
        self.scope.tenant_id.hyphenated().to_string()
    }

    /// Runs a query of this tenant and mode (`?1`, `?2`) over a batch (`?3`) whose one row is a
    /// JSON array of every answer. sqlx hands SQLite's rows over from its worker thread one at
    /// a time, which cost more than the statements themselves (a look of 1000 stored jobs: 7–9
    /// ms as rows, 4 ms as one array).
    async fn fetch_json<T: DeserializeOwned>(
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
                    differs: differs != 0,
                },
                references_differ: differs & 2 != 0,
            });
        }
        Ok(stored)
    }

    /// Per row: the stored row, if there is one, with `differs` saying whether its last sync
    /// sent another fingerprint (so its fields may differ).
    async fn fingerprints(
        &mut self,
        sql: &str,
        rows: &[EncodedRow<'_, '_>],
    ) -> Result<Vec<Option<Stored>>, StoreError> {
        let keys: Vec<_> = rows.iter().copied().map(EncodedRow::key).collect();
        self.look(sql, &encode(&keys), rows.len()).await
    }

    /// Inserts the encoded rows that do not exist yet.
    async fn insert(&mut self, sql: &str, encoded: &str) -> Result<Inserted, StoreError> {
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
    async fn update(
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

impl SyncWriter for SqliteWriter<'_> {
    async fn live_ids(
        &mut self,
        entity: Entity,
        ids: &[Uuid],
    ) -> Result<HashSet<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let found: Vec<Uuid> = self
            .fetch_json(&sql::live_ids(entity), encode(&ids))
            .await?;
        Ok(found.into_iter().collect())
    }

    async fn retire(
        &mut self,
        entity: Entity,
        parents: &[Uuid],
        keep: &[Uuid],
    ) -> Result<Vec<Retired>, StoreError> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, String)> = sqlx::query_as(&sql::retire(entity))
            .bind(&self.now)
            .bind(encode(&parents))
            .bind(encode(&keep))
            .fetch_all(&mut *self.conn)
            .await?;
        if !rows.is_empty() {
            if let Some(known) = self.known {
                known.forget_table(self.scope, entity);
            }
        }
        Retired::from_rows(rows)
    }

    async fn upsert(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
    ) -> Result<Vec<(Uuid, Change)>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let sql = upsert_sql(entity);
        let recall = self.recall();
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
        // A batch is most often all new (an initial load, a real-time create), all stored and
        // unchanged (a nightly re-send) or all stored and changed, and its first record tells
        // which. A new batch (and a single record) is tried whole as an insert, with no look.
        // Otherwise the rows are looked up by key and fingerprint (or known without a look):
        // a row whose last sync sent the same fingerprint is unchanged without reading a
        // field, and the others go to an update that writes only the rows with a value that
        // differs.
        let remembered = recall.stored(entity, &[head]).pop().flatten();
        let (first, fresh) = if remembered.is_some() {
            (remembered, encode_all(&mut scratch))
        } else if rows.len() == 1 {
            (None, vec![head])
        } else {
            let heads = [head];
            let (first, fresh) = meanwhile(self.fingerprints(&sql.key_look, &heads), || {
                encode_all(&mut scratch)
            })
            .await;
            (first?.pop().flatten(), fresh)
        };
        if first.is_none() {
            let inserted = self.insert(&sql.insert, &encode(&fresh)).await?;
            if let Some(rowids) = inserted.rowids(rows.len()) {
                let rows_at = fresh.iter().zip(rowids);
                recall.record(
                    entity,
                    rows_at.map(|(row, rowid)| (*row, rowid, row.row.id)),
                );
                return Ok(rows.iter().map(|row| (row.id, Change::Created)).collect());
            }
        }
        // The rows to update are written with their fields encoded while the look of the rows
        // not remembered runs, unless the first row says the batch is a re-send, which writes
        // little or nothing.
        let resent = first.is_some_and(|first| !first.found.needs_write());
        let mut stored = recall.stored(entity, &fresh);
        let encode_fields = |stored: &[Option<Stored>]| -> Vec<String> {
            let needs_fields = |stored: &Option<Stored>| {
                stored.as_ref().map_or(!resent, |s| s.found.needs_write())
            };
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
        };
        let unknown: Vec<usize> = (0..fresh.len()).filter(|&i| stored[i].is_none()).collect();
        let mut fields = if unknown.is_empty() {
            encode_fields(&stored)
        } else {
            let keys: Vec<EncodedRow> = unknown.iter().map(|&i| fresh[i]).collect();
            let (looked, fields) = meanwhile(self.fingerprints(&sql.key_look, &keys), || {
                encode_fields(&stored)
            })
            .await;
            for (&index, found) in unknown.iter().zip(looked?) {
                stored[index] = found;
            }
            fields
        };
        for ((field, row), stored) in fields.iter_mut().zip(&fresh).zip(&stored) {
            if field.is_empty() && stored.as_ref().is_some_and(|s| s.found.needs_write()) {
                *field = row.encoded_fields();
            }
        }
        let mut changes = Vec::with_capacity(rows.len());
        let mut rowids: Vec<i64> = stored
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| s.rowid))
            .collect();
        let mut inserts = Vec::new();
        let mut inserted_at = Vec::new();
        let mut updates = Vec::new();
        let mut value_updates = Vec::new();
        // Rows whose fingerprint differs but whose values may all be stored already.
        let mut maybe_unchanged = Vec::new();
        for (index, (encoded, stored)) in fresh.iter().zip(&stored).enumerate() {
            let id = encoded.row.id;
            let change = match stored {
                None => {
                    inserts.push(*encoded);
                    inserted_at.push(index);
                    (id, Change::Created)
                }
                // Inserted above, under the id this sync gave it.
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
                        updates.push(update);
                    } else {
                        value_updates.push(update);
                    }
                    if !found.deleted {
                        maybe_unchanged.push(index);
                    }
                    found.change(true)
                }
            };
            changes.push(change);
        }
        if !inserts.is_empty() {
            // SQLite has one writer, so nothing can insert between the look and the insert.
            let inserted = self.insert(&sql.insert, &encode(&inserts)).await?;
            let Some(new_rowids) = inserted.rowids(inserts.len()) else {
                return Err(StoreError::Database(sqlx::Error::RowNotFound));
            };
            for (index, rowid) in inserted_at.into_iter().zip(new_rowids) {
                rowids[index] = rowid;
            }
        }
        let written = self.update(sql, true, &updates).await?
            + self.update(sql, false, &value_updates).await?;
        let mut unwritten = vec![false; rows.len()];
        if written < (updates.len() + value_updates.len()) as u64 {
            // A written row now carries the fingerprint this sync sent; one still carrying
            // another held every sent value already, unless it is not stored where this sync
            // remembered it (the update then left it alone, as it holds another id).
            let suspects: Vec<EncodedRow> = maybe_unchanged.iter().map(|&i| fresh[i]).collect();
            let after = self.fingerprints(&sql.key_look, &suspects).await?;
            for (&index, after) in maybe_unchanged.iter().zip(after) {
                let before = stored[index].as_ref().map(|s| (s.rowid, s.found.id));
                match after {
                    Some(after) if Some((after.rowid, after.found.id)) != before => {
                        return Err(StoreError::Misremembered);
                    }
                    Some(Stored { found, .. }) if found.differs => {
                        changes[index] = found.change(false);
                        unwritten[index] = true;
                    }
                    Some(_) => {}
                    None => return Err(StoreError::Misremembered),
                }
            }
        }
        let written = Written {
            changes,
            rowids,
            unwritten,
        };
        recall.keep(entity, &fresh, &stored, &written);
        Ok(written.changes)
    }

    async fn resolve(
        &mut self,
        entity: Entity,
        keys: &[(&str, &str)],
    ) -> Result<Vec<Option<Uuid>>, StoreError> {
        let found: Vec<(usize, Uuid)> = self
            .fetch_json(&sql::resolve(entity), encode(&keys))
            .await?;
        let mut ids = vec![None; keys.len()];
        for (index, id) in found {
            ids[index] = Some(id);
        }
        Ok(ids)
    }

    async fn active_cells_named(
        &mut self,
        names: &[&str],
    ) -> Result<HashMap<String, Vec<Uuid>>, StoreError> {
        let found: Vec<(String, Uuid)> = self
            .fetch_json(sql::ACTIVE_CELLS_NAMED, encode(&names))
            .await?;
        let mut cells: HashMap<String, Vec<Uuid>> = HashMap::new();
        for (name, id) in found {
            cells.entry(name).or_default().push(id);
        }
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::domain::record::RecordKey;
    use crate::domain::schema::Scalar;
    use crate::domain::Mode;

    async fn count_jobs(conn: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM jobs")
            .fetch_one(conn)
            .await
            .expect("jobs count")
    }

    async fn database_with_tenant() -> (SqliteConnection, Scope) {
        let mut conn = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::migrate!("migrations/sqlite")
            .run(&mut conn)
            .await
            .expect("migrations");
        let tenant = Uuid::now_v7();
        sqlx::query("INSERT INTO tenants (id, slug, created_at) VALUES (?1, 'acme', '')")
            .bind(tenant.hyphenated().to_string())
            .execute(&mut conn)
            .await
            .expect("tenant");
        let scope = Scope {
            tenant_id: tenant,
            mode: Mode::Live,
        };
        (conn, scope)
    }

    fn job_key(external_id: &str) -> RecordKey {
        RecordKey {
            source: "SAP".into(),
            external_id: external_id.into(),
        }
    }

    /// A job's values with its job number set.
    fn job_values(number: &str) -> Vec<Patch<Scalar>> {
        let mut values = vec![Patch::Absent; Entity::Jobs.columns().len()];
        values[0] = Patch::Value(Scalar::Text(number.into()));
        values
    }

    fn job_row<'a>(key: &'a RecordKey, values: &'a [Patch<Scalar>]) -> UpsertRow<'a> {
        UpsertRow {
            id: Uuid::now_v7(),
            key,
            refs: Vec::new(),
            values,
        }
    }

    fn job_rows<'a>(keys: &'a [RecordKey], values: &'a [Vec<Patch<Scalar>>]) -> Vec<UpsertRow<'a>> {
        keys.iter()
            .zip(values)
            .map(|(k, v)| job_row(k, v))
            .collect()
    }

    async fn job_numbers(conn: &mut SqliteConnection) -> Vec<(String, String)> {
        sqlx::query_as("SELECT external_id, job_number FROM jobs ORDER BY external_id")
            .fetch_all(conn)
            .await
            .expect("jobs")
    }

    /// The update is an upsert whose proposed row must never be inserted: a rowid that no row
    /// holds fails the statement (its tenant does not exist) rather than creating a row.
    #[tokio::test]
    async fn an_update_of_a_row_that_is_not_stored_fails_and_creates_nothing() {
        let (mut conn, scope) = database_with_tenant().await;
        let key = job_key("J-1");
        let values = job_values("1");
        let row = job_row(&key, &values);
        let mut writer = SqliteWriter {
            conn: &mut conn,
            scope,
            now: crate::store::timestamp(),
            known: None,
        };
        let synced = writer
            .upsert(Entity::Jobs, std::slice::from_ref(&row))
            .await;
        assert!(matches!(synced.as_deref(), Ok([(_, Change::Created)])));

        let recall = writer.recall();
        let fields = EncodedRow::of(&row, &mut Vec::new(), recall).encoded_fields();
        let unstored = UpdateRow {
            rowid: 1_000,
            id: Uuid::now_v7(),
            fields: &fields,
            sends_every_column: false,
        };
        let outcome = writer
            .update(upsert_sql(Entity::Jobs), false, &[unstored])
            .await;
        assert!(outcome.is_err(), "an update of no stored row fails");
        assert_eq!(count_jobs(writer.conn).await, 1, "and inserts nothing");
    }

    /// A remembered rowid is trusted only for the row whose id it holds: were two rowids
    /// remembered the wrong way round, neither row is written with the other's values, and
    /// the sync is refused so that it runs again from what is stored.
    #[tokio::test]
    async fn a_misremembered_rowid_writes_no_other_row() {
        let (mut conn, scope) = database_with_tenant().await;
        let known = KnownRows::default();
        let keys = [job_key("J-1"), job_key("J-2")];
        let first = [job_values("1"), job_values("2")];
        let rows = job_rows(&keys, &first);
        let mut writer = SqliteWriter {
            conn: &mut conn,
            scope,
            now: crate::store::timestamp(),
            known: Some(&known),
        };
        writer.upsert(Entity::Jobs, &rows).await.expect("inserted");
        let hashes = keys.each_ref().map(|key| known.key(key));
        known.swap_rowids(scope, Entity::Jobs, hashes[0], hashes[1]);

        let changed = [job_values("1b"), job_values("2b")];
        let rows = job_rows(&keys, &changed);
        let outcome = writer.upsert(Entity::Jobs, &rows).await;
        assert!(matches!(outcome, Err(StoreError::Misremembered)), "refused");
        let expected = |a: &str, b: &str| vec![("J-1".into(), a.into()), ("J-2".into(), b.into())];
        assert_eq!(job_numbers(writer.conn).await, expected("1", "2"));

        known.clear();
        let again = writer.upsert(Entity::Jobs, &rows).await.expect("synced");
        assert!(again.iter().all(|(_, change)| *change == Change::Updated));
        assert_eq!(job_numbers(writer.conn).await, expected("1b", "2b"));
    }
}
