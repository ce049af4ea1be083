//! PostgreSQL's set-based upserts. A batch travels as one typed array per column, unnested
//! side by side, so each step is one statement whatever the batch size: one
//! `INSERT … ON CONFLICT DO UPDATE` inserts the new rows and updates the changed ones, and
//! answers both. A re-send is first looked up by key and fingerprint, so its unchanged rows are
//! neither written nor locked.
//!
//! Statements run under READ COMMITTED. The upsert goes through the batch in key order: every
//! row lock it takes, of a row it inserts or of one it updates, follows one global order, so
//! concurrent batches touching the same rows wait for each other instead of deadlocking. A key
//! another transaction inserts concurrently makes it wait, then update that row.
//!
//! Every match of a batch row to a stored row is a lateral probe of the identity index. Left to
//! itself the planner joins on `(tenant_id, mode)` alone whenever it believes a tenant owns few
//! rows (no statistics yet, or a generic plan), then rescans the batch per stored row: seconds
//! for a 1000-job batch on a table of a few thousand rows.

use std::collections::{HashMap, HashSet};

use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::batch::Batch;
use super::sql::{plan_once, upsert_sql, WRITTEN_VIEW_AT};
use super::tx::PgConn;
use crate::domain::outcome::Change;
use crate::domain::schema::Entity;
use crate::domain::view::RecordView;
use crate::domain::Scope;
use crate::store::listing::Dialect;
use crate::store::read::decode;
use crate::store::tx::Statements;
use crate::store::{parent_column, Found, Retired, StoreError, SyncWriter, UpsertRow};

/// How the upsert's records are read: they search no text, so the collation does not matter.
const SYNC_DIALECT: Dialect = Dialect::Postgres { icu: false };

pub(super) struct PostgresWriter<'c> {
    pub conn: &'c mut PgConnection,
    pub scope: Scope,
    pub now: String,
    /// Rows created per entity, so the store can keep the planner's statistics fresh.
    pub created: Vec<(Entity, usize)>,
    /// The rows the upserts wrote, as their statements answered them.
    pub written: Vec<RecordView>,
    /// The rows the upserts may have changed, as they were before.
    pub before: Vec<RecordView>,
}

/// The changes of a batch, once every row has one.
fn every_row_answered(
    changes: Vec<Option<(Uuid, Change)>>,
) -> Result<Vec<(Uuid, Change)>, StoreError> {
    changes
        .into_iter()
        .map(|o| o.ok_or(StoreError::Database(sqlx::Error::RowNotFound)))
        .collect()
}

impl PostgresWriter<'_> {
    fn tenant(&self) -> String {
        self.scope.tenant_id.hyphenated().to_string()
    }

    /// Writes every row with the one upsert statement. Rows it did not write were stored
    /// already with every sent value; their ids are looked up by key.
    async fn write(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
        batch: &Batch<'_>,
    ) -> Result<Vec<(Uuid, Change)>, StoreError> {
        let sql = upsert_sql(entity);
        let tenant = self.tenant();
        let mode = self.scope.mode.as_str();
        let statement = if rows.len() == 1 {
            &sql.upsert_one
        } else {
            &sql.upsert
        };
        let written = sqlx::query_with(statement, batch.arguments(&tenant, mode, &self.now)?)
            .persistent(plan_once(rows.len()))
            .fetch_all(&mut *self.conn)
            .await?;
        let mut changes: Vec<Option<(Uuid, Change)>> = (0..rows.len()).map(|_| None).collect();
        // Matching keys here costs less than a join in the statement, which sorts both sides.
        let position: HashMap<(&str, &str), usize> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| ((row.key.source.as_str(), row.key.external_id.as_str()), i))
            .collect();
        let mut created = 0;
        for row in &written {
            let view = decode(entity, row, WRITTEN_VIEW_AT, SYNC_DIALECT)?;
            let Some(inserted) = row.try_get::<Option<bool>, _>(1)? else {
                self.before.push(view);
                continue;
            };
            let restored: bool = row.try_get(0)?;
            let key: (&str, &str) = (row.try_get(2)?, row.try_get(3)?);
            let index = *position
                .get(&key)
                .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
            let found = Found {
                id: view.id,
                deleted: restored,
                differs: true,
            };
            self.written.push(view);
            changes[index] = Some(if inserted {
                created += 1;
                (found.id, Change::Created)
            } else {
                found.change(true)
            });
        }
        self.created.push((entity, created));

        let unchanged: Vec<usize> = (0..rows.len()).filter(|&i| changes[i].is_none()).collect();
        if !unchanged.is_empty() {
            let sources: Vec<&str> = unchanged.iter().map(|&i| batch.sources[i]).collect();
            let external_ids: Vec<&str> =
                unchanged.iter().map(|&i| batch.external_ids[i]).collect();
            for (position, id) in self.ids_of(&sql.select, &sources, &external_ids).await? {
                changes[unchanged[position as usize]] = Some((id, Change::Unchanged));
            }
        }
        every_row_answered(changes)
    }

    /// A batch that is probably a re-send: rows whose last sync sent the same fingerprint are
    /// unchanged; the others go through the upsert, which writes those whose values differ.
    async fn write_resend(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
        batch: &Batch<'_>,
    ) -> Result<Vec<(Uuid, Change)>, StoreError> {
        let sql = upsert_sql(entity);
        let found = self
            .fingerprints(
                &sql.key_look,
                &batch.sources,
                &batch.external_ids,
                &batch.fingerprints,
            )
            .await?;
        let mut changes: Vec<Option<(Uuid, Change)>> = found
            .iter()
            .map(|found| match found {
                Some(found) if !found.needs_write() => Some((found.id, Change::Unchanged)),
                _ => None,
            })
            .collect();
        let rest: Vec<usize> = (0..rows.len()).filter(|&i| changes[i].is_none()).collect();
        if !rest.is_empty() {
            let subset: Vec<UpsertRow> = rest.iter().map(|&i| rows[i].clone()).collect();
            let subset_batch = Batch::new(entity, subset.iter())?;
            let written = self.write(entity, &subset, &subset_batch).await?;
            for (i, change) in rest.into_iter().zip(written) {
                changes[i] = Some(change);
            }
        }
        every_row_answered(changes)
    }

    /// Per row of `[source, external_id, fingerprint]`: the stored row, if there is one, with
    /// `differs` saying whether its last sync sent another fingerprint.
    async fn fingerprints(
        &mut self,
        sql: &str,
        sources: &[&str],
        external_ids: &[&str],
        fingerprints: &[i64],
    ) -> Result<Vec<Option<Found>>, StoreError> {
        let rows: Vec<(i64, Uuid, bool, bool)> = sqlx::query_as(sql)
            .persistent(plan_once(sources.len()))
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(sources)
            .bind(external_ids)
            .bind(fingerprints)
            .fetch_all(&mut *self.conn)
            .await?;
        let mut found: Vec<Option<Found>> = (0..sources.len()).map(|_| None).collect();
        for (index, id, deleted, differs) in rows {
            found[index as usize] = Some(Found {
                id,
                deleted,
                differs,
            });
        }
        Ok(found)
    }

    /// The id of the row with each key, by position in `sources`/`external_ids`.
    async fn ids_of(
        &mut self,
        sql: &str,
        sources: &[&str],
        external_ids: &[&str],
    ) -> Result<Vec<(i64, Uuid)>, StoreError> {
        sqlx::query_as(sql)
            .persistent(plan_once(sources.len()))
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(sources)
            .bind(external_ids)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(StoreError::from)
    }
}

impl SyncWriter for PostgresWriter<'_> {
    async fn live_ids(
        &mut self,
        entity: Entity,
        ids: &[Uuid],
    ) -> Result<HashSet<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let active = if entity == Entity::Cells {
            " AND active"
        } else {
            ""
        };
        // Key-share locked, as `resolve` locks what it finds.
        let sql = format!(
            "SELECT id FROM {table} \
             WHERE tenant_id = $1::uuid AND mode = $2::text AND deleted_at IS NULL{active} \
               AND id = ANY($3::uuid[]) ORDER BY id FOR KEY SHARE",
            table = entity.plural()
        );
        let found: Vec<Uuid> = sqlx::query_scalar(&sql)
            .persistent(plan_once(ids.len()))
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(ids)
            .fetch_all(&mut *self.conn)
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
        let parent = parent_column(entity);
        let sql = format!(
            "UPDATE {table} SET deleted_at = $1::timestamptz, updated_at = $1::timestamptz \
             WHERE {parent} = ANY($2::uuid[]) AND id <> ALL($3::uuid[]) AND deleted_at IS NULL \
             RETURNING {parent}::text, id::text, external_source, external_id",
            table = entity.plural()
        );
        let text = |ids: &[Uuid]| -> Vec<String> {
            ids.iter().map(|id| id.hyphenated().to_string()).collect()
        };
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(&sql)
            .persistent(plan_once(parents.len()))
            .bind(&self.now)
            .bind(text(parents))
            .bind(text(keep))
            .fetch_all(&mut *self.conn)
            .await?;
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
        let batch = Batch::new(entity, rows.iter())?;
        if rows.len() == 1 {
            return self.write(entity, rows, &batch).await;
        }
        // A batch is most often all new, all stored and unchanged (a re-send) or all stored and
        // changed, and its first record tells which. A re-send is looked up by key and
        // fingerprint, without taking a lock; only the rows that are not unchanged by
        // fingerprint are written.
        let first = self
            .fingerprints(
                &sql.key_look,
                &batch.sources[..1],
                &batch.external_ids[..1],
                &batch.fingerprints[..1],
            )
            .await?
            .pop()
            .flatten();
        match first {
            Some(found) if !found.needs_write() => self.write_resend(entity, rows, &batch).await,
            _ => self.write(entity, rows, &batch).await,
        }
    }

    async fn resolve(
        &mut self,
        entity: Entity,
        keys: &[(&str, &str)],
    ) -> Result<Vec<Option<Uuid>>, StoreError> {
        // Each row found is key-share locked, in key order (the upserts' order), until the
        // sync commits: a delete or floor action waits for it, or it finds no row (decision
        // 0030, `races::deletes_and_floor_actions_wait_for_syncs_that_found_the_record`).
        let sql = format!(
            "SELECT r.idx - 1, t.id \
             FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS r(src, ext, idx) \
             CROSS JOIN LATERAL (SELECT t.id FROM {table} AS t \
                 WHERE t.tenant_id = $1::uuid AND t.mode = $2::text \
                   AND t.external_source = r.src AND t.external_id = r.ext \
                   AND t.deleted_at IS NULL OFFSET 0 FOR KEY SHARE) AS t",
            table = entity.plural()
        );
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| keys[i]);
        let (sources, external_ids): (Vec<&str>, Vec<&str>) =
            order.iter().map(|&i| keys[i]).unzip();
        let found = self.ids_of(&sql, &sources, &external_ids).await?;
        let mut ids = vec![None; keys.len()];
        for (index, id) in found {
            ids[order[index as usize]] = Some(id);
        }
        Ok(ids)
    }

    async fn cells_named(
        &mut self,
        names: &[&str],
    ) -> Result<HashMap<String, Vec<(Uuid, bool)>>, StoreError> {
        let found: Vec<(String, Uuid, bool)> = sqlx::query_as(
            "SELECT c.name, c.id, c.active FROM cells AS c \
             WHERE c.tenant_id = $1::uuid AND c.mode = $2::text AND c.deleted_at IS NULL \
               AND c.name = ANY($3::text[]) ORDER BY c.id FOR KEY SHARE",
        )
        .persistent(plan_once(names.len()))
        .bind(self.tenant())
        .bind(self.scope.mode.as_str())
        .bind(names)
        .fetch_all(&mut *self.conn)
        .await?;
        let mut cells: HashMap<String, Vec<(Uuid, bool)>> = HashMap::new();
        for (name, id, active) in found {
            cells.entry(name).or_default().push((id, active));
        }
        Ok(cells)
    }

    async fn operations_in(
        &mut self,
        cells: &[Uuid],
    ) -> Result<HashMap<(String, String), Uuid>, StoreError> {
        let found: Vec<(String, String, Uuid)> = sqlx::query_as(
            "SELECT o.external_source, o.external_id, o.cell_id FROM operations AS o \
             WHERE o.tenant_id = $1::uuid AND o.mode = $2::text AND o.deleted_at IS NULL \
               AND o.cell_id = ANY($3::uuid[])",
        )
        .persistent(plan_once(cells.len()))
        .bind(self.tenant())
        .bind(self.scope.mode.as_str())
        .bind(cells)
        .fetch_all(&mut *self.conn)
        .await?;
        Ok(found
            .into_iter()
            .map(|(source, external_id, cell)| ((source, external_id), cell))
            .collect())
    }

    async fn take_written(&mut self) -> Result<Vec<RecordView>, StoreError> {
        Ok(std::mem::take(&mut self.written))
    }

    fn take_before(&mut self) -> Vec<RecordView> {
        std::mem::take(&mut self.before)
    }

    fn statements(&mut self) -> impl Statements + '_ {
        PgConn(&mut *self.conn)
    }
}
