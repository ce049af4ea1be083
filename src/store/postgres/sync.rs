//! PostgreSQL's set-based upserts. A batch travels as one typed array per column, unnested
//! side by side, so each step is one statement whatever the batch size: one statement looks up
//! the stored rows (and which of them differ from what was sent) and inserts the missing ones,
//! then an update writes only the changed ones. An unchanged re-send is that one statement.
//!
//! Statements run under READ COMMITTED. A key another transaction inserts concurrently makes
//! `ON CONFLICT DO NOTHING` wait for it and skip the row; the next statements see it committed.
//! Both writing steps take their row locks in one global order (by key) so that concurrent
//! batches touching the same rows wait instead of deadlocking.
//!
//! Every match of a batch row to a stored row is a lateral probe of the identity index. Left to
//! itself the planner joins on `(tenant_id, mode)` alone whenever it believes a tenant owns few
//! rows (no statistics yet, or a generic plan), then rescans the batch per stored row: seconds
//! for a 1000-job batch on a table of a few thousand rows.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgConnection};
use uuid::Uuid;

use super::{parse_id, store_error};
use crate::domain::outcome::Change;
use crate::domain::patch::Patch;
use crate::domain::schema::{Column, Default, Entity, Kind, Scalar};
use crate::domain::Scope;
use crate::store::{parent_column, Found, Retired, StoreError, SyncWriter, UpsertRow};

pub(super) struct PostgresWriter<'c> {
    pub conn: &'c mut PgConnection,
    pub scope: Scope,
    pub now: String,
    /// Rows created per entity, so the store can keep the planner's statistics fresh.
    pub created: Vec<(Entity, usize)>,
}

struct UpsertSql {
    /// Looks every batch row up and inserts the missing ones; answers, per row found or
    /// inserted, its index, id, whether it is deleted, whether a sent value differs from the
    /// stored one, and whether it was inserted.
    look: String,
    /// Per batch row of `[source, external_id, fingerprint]` that has a stored row: its index,
    /// id, whether it is deleted, and whether its last sync sent another fingerprint.
    key_look: String,
    /// Inserts every batch row (in key order) that does not exist yet.
    insert: String,
    update: String,
    select: String,
}

fn upsert_sql(entity: Entity) -> &'static UpsertSql {
    static CACHE: [OnceLock<UpsertSql>; 5] = [const { OnceLock::new() }; 5];
    let slot = Entity::ALL
        .iter()
        .position(|e| *e == entity)
        .expect("every entity is listed");
    CACHE[slot].get_or_init(|| build_upsert_sql(entity))
}

/// The array type column values travel in; the cast makes every expression native-typed.
fn array_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Reference(_) => "uuid[]",
        Kind::Text => "text[]",
        Kind::Int => "integer[]",
        Kind::Real => "double precision[]",
        Kind::Bool => "boolean[]",
        Kind::Date => "date[]",
        Kind::Json => "jsonb[]",
    }
}

fn default_literal(default: Default) -> String {
    match default {
        Default::Text(text) => format!("'{text}'"),
        Default::Int(value) => value.to_string(),
        Default::Bool(value) => value.to_string(),
    }
}

/// The value to write for column `k`: what was sent, or the column's default when nothing (or
/// `null`) was sent.
fn value_expr(column: &Column, k: usize) -> String {
    let sent = format!("r.v{k}");
    match column.default {
        Some(default) => format!("COALESCE({sent}, {})", default_literal(default)),
        None => sent,
    }
}

/// The batch as rows `r(id, src, ext, mask, fp, v0, v1, …)` from parameters `$4…`; `$1..$3`
/// are the tenant, the mode and the time of the write.
fn batch_rows(columns: &[Column]) -> String {
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(k, c)| format!("${}::{}", 9 + k, array_type(c.kind)))
        .collect();
    let names: Vec<String> = (0..columns.len()).map(|k| format!("v{k}")).collect();
    format!(
        "unnest($4::uuid[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], {arrays}) \
         WITH ORDINALITY AS r(id, src, ext, mask, fp, {names}, idx)",
        arrays = arrays.join(", "),
        names = names.join(", "),
    )
}

/// `CROSS JOIN LATERAL` the row of `table` whose key is the batch row `r`'s, as `t(columns)`.
/// `OFFSET 0` keeps the subquery from being flattened into a join the planner may reorder.
fn row_by_key(table: &str, columns: &str, condition: &str, lock: &str) -> String {
    format!(
        "CROSS JOIN LATERAL (SELECT {columns} FROM {table} AS t \
         WHERE t.tenant_id = $1::uuid AND t.mode = $2::text \
           AND t.external_source = r.src AND t.external_id = r.ext{condition} \
         OFFSET 0{lock}) AS t"
    )
}

/// Whether a statement over a batch of `rows` may keep its plan (a prepared statement).
/// A batch joins its rows to tables whose size changes by orders of magnitude during a load, and
/// a plan cached while a table was small scans it per batch row later (816 ms instead of ~2 ms
/// for 1000 keys): batches are planned at each execution (unnamed statements). A single record,
/// the common real-time sync, keeps its plan: a one-row look-up stays an index probe, and
/// parsing the statement again would cost a third of its time. (The session-wide
/// `plan_cache_mode = force_custom_plan` used before also re-planned the foreign-key checks
/// PostgreSQL runs per inserted row: 3× their cost, 94 ms of a 9000-record nested insert.)
fn plan_once(rows: usize) -> bool {
    rows == 1
}

fn sent(k: usize) -> String {
    format!("(r.mask & {}) <> 0", 1u64 << k)
}

fn build_upsert_sql(entity: Entity) -> UpsertSql {
    let table = entity.plural();
    let columns = entity.columns();
    let rows = batch_rows(columns);
    let names: Vec<String> = columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let values: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(k, c)| value_expr(c, k))
        .collect();

    let sent_values: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(k, value)| format!("{value} AS v{k}"))
        .collect();
    let differs = names
        .iter()
        .enumerate()
        .map(|(k, name)| format!("({} AND t.{name} IS DISTINCT FROM r.v{k})", sent(k)))
        .collect::<Vec<_>>()
        .join(" OR ");
    // A deleted row always changes: the sync brings it back.
    let differences = format!("t.deleted_at IS NOT NULL OR {differs}");
    let stored = row_by_key(
        table,
        &format!(
            "t.id, t.deleted_at, {}",
            names
                .iter()
                .map(|n| format!("t.{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "",
        "",
    )
    .replacen("CROSS JOIN LATERAL", "LEFT JOIN LATERAL", 1);
    let assigned: Vec<String> = (0..columns.len()).map(|k| format!("r.v{k}")).collect();
    // One round trip: look up every row, insert the ones that do not exist (in key order, so
    // concurrent batches lock in one order), and answer both. A row another transaction
    // inserted after the look conflicts, is neither found nor inserted, and is left out.
    let look = format!(
        "WITH sent AS (SELECT r.idx, r.id, r.src, r.ext, r.mask, r.fp, {sent_values} FROM {rows}), \
         looked AS MATERIALIZED ( \
             SELECT r.idx, t.id, t.deleted_at IS NOT NULL AS deleted, {differs} AS differs \
             FROM sent AS r {stored} ON true), \
         inserted AS ( \
             INSERT INTO {table} (id, tenant_id, mode, external_source, external_id, {names}, created_at, updated_at, synced_at, sync_fingerprint) \
             SELECT r.id, $1::uuid, $2::text, r.src, r.ext, {assigned}, $3::timestamptz, $3::timestamptz, $3::timestamptz, r.fp \
             FROM sent AS r JOIN looked AS l ON l.idx = r.idx WHERE l.id IS NULL \
             ORDER BY r.src COLLATE \"C\", r.ext COLLATE \"C\" \
             ON CONFLICT (tenant_id, mode, external_source, external_id) DO NOTHING \
             RETURNING id) \
         SELECT r.idx - 1, COALESCE(l.id, i.id)::text, COALESCE(l.deleted, false), \
                COALESCE(l.differs, false), i.id IS NOT NULL \
         FROM sent AS r JOIN looked AS l ON l.idx = r.idx LEFT JOIN inserted AS i ON i.id = r.id \
         WHERE l.id IS NOT NULL OR i.id IS NOT NULL",
        sent_values = sent_values.join(", "),
        names = names.join(", "),
        assigned = assigned.join(", "),
    );

    let insert = format!(
        "WITH sent AS (SELECT r.id, r.src, r.ext, r.fp, {sent_values} FROM {rows}) \
         INSERT INTO {table} (id, tenant_id, mode, external_source, external_id, {names}, created_at, updated_at, synced_at, sync_fingerprint) \
         SELECT r.id, $1::uuid, $2::text, r.src, r.ext, {assigned}, $3::timestamptz, $3::timestamptz, $3::timestamptz, r.fp \
         FROM sent AS r ORDER BY r.src COLLATE \"C\", r.ext COLLATE \"C\" \
         ON CONFLICT (tenant_id, mode, external_source, external_id) DO NOTHING",
        sent_values = sent_values.join(", "),
        names = names.join(", "),
        assigned = assigned.join(", "),
    );

    let carried: Vec<String> = (0..columns.len()).map(|k| format!("r.v{k}")).collect();
    let assignments: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            format!(
                "{name} = CASE WHEN {} THEN r.v{k} ELSE t.{name} END",
                sent(k)
            )
        })
        .collect();
    // The materialized CTE locks the rows to change, in key order, before the UPDATE touches
    // them; the UPDATE repeats the comparison so a row changed meanwhile is judged afresh.
    let update = format!(
        "WITH sent AS (SELECT r.src, r.ext, r.mask, r.fp, {sent_values} FROM {rows} \
                       ORDER BY r.src COLLATE \"C\", r.ext COLLATE \"C\"), \
         changing AS MATERIALIZED ( \
             SELECT t.row_id, r.mask, r.fp, {carried} FROM sent AS r {changed_row}) \
         UPDATE {table} AS t SET {assignments}, updated_at = $3::timestamptz, synced_at = $3::timestamptz, deleted_at = NULL, \
           sync_fingerprint = r.fp \
         FROM changing AS r WHERE t.id = r.row_id AND ({differences}) \
         RETURNING t.id::text",
        sent_values = sent_values.join(", "),
        carried = carried.join(", "),
        changed_row = row_by_key(
            table,
            "t.id AS row_id",
            &format!(" AND ({differences})"),
            " FOR NO KEY UPDATE"
        ),
        assignments = assignments.join(", "),
    );

    let select = format!(
        "SELECT r.idx - 1, t.id::text, t.deleted_at IS NOT NULL \
         FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS r(src, ext, idx) {stored}",
        stored = row_by_key(table, "t.id, t.deleted_at", "", "")
    );
    let key_look = format!(
        "SELECT r.idx - 1, t.id::text, t.deleted_at IS NOT NULL, \
                t.sync_fingerprint IS DISTINCT FROM r.fp \
         FROM unnest($3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS r(src, ext, fp, idx) \
         {stored}",
        stored = row_by_key(table, "t.id, t.deleted_at, t.sync_fingerprint", "", "")
    );
    UpsertSql {
        look,
        key_look,
        insert,
        update,
        select,
    }
}

/// One column of a batch, in the Rust type its array parameter is bound with.
enum ColumnValues {
    Ids(Vec<String>),
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

fn mismatch(column: &Column, value: &Scalar) -> StoreError {
    StoreError::Database(sqlx::Error::Encode(
        format!("column {} cannot hold {value:?}", column.name).into(),
    ))
}

impl ColumnValues {
    fn new(column: &Column, rows: usize) -> ColumnValues {
        match column.kind {
            Kind::Reference(_) => ColumnValues::Ids(Vec::with_capacity(rows)),
            Kind::Text | Kind::Date | Kind::Json => ColumnValues::Text(Vec::with_capacity(rows)),
            Kind::Int => ColumnValues::Int(Vec::with_capacity(rows)),
            Kind::Real => ColumnValues::Real(Vec::with_capacity(rows)),
            Kind::Bool => ColumnValues::Bool(Vec::with_capacity(rows)),
        }
    }

    fn push(&mut self, column: &Column, value: &Patch<Scalar>) -> Result<(), StoreError> {
        let scalar = match value {
            Patch::Value(scalar) => Some(scalar),
            Patch::Null | Patch::Absent => None,
        };
        match (self, scalar) {
            (ColumnValues::Text(values), None) => values.push(None),
            (ColumnValues::Text(values), Some(Scalar::Text(text))) => {
                values.push(Some(text.clone()))
            }
            (ColumnValues::Int(values), None) => values.push(None),
            (ColumnValues::Int(values), Some(Scalar::Int(int))) => values.push(Some(*int)),
            (ColumnValues::Real(values), None) => values.push(None),
            (ColumnValues::Real(values), Some(Scalar::Real(real))) => values.push(Some(*real)),
            (ColumnValues::Real(values), Some(Scalar::Int(int))) => values.push(Some(*int as f64)),
            (ColumnValues::Bool(values), None) => values.push(None),
            (ColumnValues::Bool(values), Some(Scalar::Bool(bool))) => values.push(Some(*bool)),
            (_, Some(scalar)) => return Err(mismatch(column, scalar)),
            (ColumnValues::Ids(_), None) => unreachable!("references are never values"),
        }
        Ok(())
    }

    fn add_to(&self, args: &mut PgArguments) -> Result<(), sqlx::error::BoxDynError> {
        match self {
            ColumnValues::Ids(values) => args.add(values.as_slice()),
            ColumnValues::Text(values) => args.add(values.as_slice()),
            ColumnValues::Int(values) => args.add(values.as_slice()),
            ColumnValues::Real(values) => args.add(values.as_slice()),
            ColumnValues::Bool(values) => args.add(values.as_slice()),
        }
    }
}

/// A batch split into the arrays the statements unnest, where bit k of `masks` says column k
/// was sent (references always are).
struct Batch {
    ids: Vec<String>,
    sources: Vec<String>,
    external_ids: Vec<String>,
    masks: Vec<i64>,
    fingerprints: Vec<i64>,
    columns: Vec<ColumnValues>,
}

impl Batch {
    fn new<'r, 'a: 'r>(
        entity: Entity,
        rows: impl ExactSizeIterator<Item = &'r UpsertRow<'a>>,
    ) -> Result<Batch, StoreError> {
        let columns = entity.columns();
        let mut batch = Batch {
            ids: Vec::with_capacity(rows.len()),
            sources: Vec::with_capacity(rows.len()),
            external_ids: Vec::with_capacity(rows.len()),
            masks: Vec::with_capacity(rows.len()),
            fingerprints: Vec::with_capacity(rows.len()),
            columns: columns
                .iter()
                .map(|c| ColumnValues::new(c, rows.len()))
                .collect(),
        };
        let mut scratch = Vec::new();
        for row in rows {
            let refs = row.refs.len();
            debug_assert_eq!(refs + row.values.len(), columns.len());
            let mask = row.mask();
            batch.ids.push(row.id.hyphenated().to_string());
            batch.sources.push(row.key.source.clone());
            batch.external_ids.push(row.key.external_id.clone());
            batch.masks.push(mask as i64);
            batch.fingerprints.push(row.fingerprint(mask, &mut scratch));
            for (slot, id) in batch.columns.iter_mut().zip(&row.refs) {
                match slot {
                    ColumnValues::Ids(ids) => ids.push(id.hyphenated().to_string()),
                    _ => unreachable!("references come first in every schema"),
                }
            }
            for ((slot, column), value) in batch.columns[refs..]
                .iter_mut()
                .zip(&columns[refs..])
                .zip(row.values)
            {
                slot.push(column, value)?;
            }
        }
        Ok(batch)
    }

    /// The parameters of the insert and the update: `$1..$3` then the batch's arrays.
    fn arguments(&self, tenant: &str, mode: &str, now: &str) -> Result<PgArguments, StoreError> {
        let mut args = PgArguments::default();
        let mut add = || -> Result<(), sqlx::error::BoxDynError> {
            args.add(tenant)?;
            args.add(mode)?;
            args.add(now)?;
            args.add(self.ids.as_slice())?;
            args.add(self.sources.as_slice())?;
            args.add(self.external_ids.as_slice())?;
            args.add(self.masks.as_slice())?;
            args.add(self.fingerprints.as_slice())?;
            self.columns.iter().try_for_each(|c| c.add_to(&mut args))
        };
        add().map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
        Ok(args)
    }
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

fn parse_ids(texts: &[String]) -> Result<HashSet<Uuid>, StoreError> {
    texts.iter().map(|t| parse_id(t)).collect()
}

impl PostgresWriter<'_> {
    fn tenant(&self) -> String {
        self.scope.tenant_id.hyphenated().to_string()
    }

    /// Runs the update for the rows at `picked`, answering the ids it changed. `all` is the
    /// whole batch, already split into arrays, for when every row is picked.
    async fn update(
        &mut self,
        sql: &str,
        entity: Entity,
        rows: &[UpsertRow<'_>],
        all: &Batch,
        picked: &[usize],
    ) -> Result<HashSet<Uuid>, StoreError> {
        if picked.is_empty() {
            return Ok(HashSet::new());
        }
        let some;
        let batch = if picked.len() == rows.len() {
            all
        } else {
            some = Batch::new(entity, picked.iter().map(|&i| &rows[i]))?;
            &some
        };
        let arguments = batch.arguments(&self.tenant(), self.scope.mode.as_str(), &self.now)?;
        let written: Vec<String> = sqlx::query_scalar_with(sql, arguments)
            .persistent(plan_once(batch.ids.len()))
            .fetch_all(&mut *self.conn)
            .await
            .map_err(store_error)?;
        parse_ids(&written)
    }

    /// Looks every row up (inserting the missing ones in the same statement), then updates
    /// the ones whose sent values differ.
    async fn look_and_write(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
        batch: &Batch,
    ) -> Result<Vec<(Uuid, Change)>, StoreError> {
        let sql = upsert_sql(entity);
        let tenant = self.tenant();
        let mode = self.scope.mode.as_str();
        let looked: Vec<(i64, String, bool, bool, bool)> =
            sqlx::query_as_with(&sql.look, batch.arguments(&tenant, mode, &self.now)?)
                .persistent(plan_once(rows.len()))
                .fetch_all(&mut *self.conn)
                .await
                .map_err(store_error)?;
        let mut before: Vec<Option<Found>> = (0..rows.len()).map(|_| None).collect();
        let mut created = HashSet::new();
        for (index, id, deleted, differs, inserted) in looked {
            let id = parse_id(&id)?;
            // Inserted by this statement, or by the insert before it under this sync's id.
            if inserted || id == rows[index as usize].id {
                created.insert(id);
            } else {
                before[index as usize] = Some(Found {
                    id,
                    deleted,
                    differs,
                });
            }
        }
        // Rows another transaction inserted after the look: ours conflicted and did nothing,
        // so they are updated like the rows the look found changed.
        let late: Vec<usize> = (0..rows.len())
            .filter(|&i| before[i].is_none() && !created.contains(&rows[i].id))
            .collect();
        let changing: Vec<usize> = (0..rows.len())
            .filter(|&i| before[i].as_ref().is_some_and(Found::needs_write))
            .chain(late.iter().copied())
            .collect();
        let updated = self
            .update(&sql.update, entity, rows, batch, &changing)
            .await?;
        self.created.push((entity, created.len()));

        let mut changes: Vec<Option<(Uuid, Change)>> = rows
            .iter()
            .zip(&before)
            .map(|(row, before)| match before {
                Some(found) => Some(found.change(updated.contains(&found.id))),
                None if created.contains(&row.id) => Some((row.id, Change::Created)),
                None => None,
            })
            .collect();
        if !late.is_empty() {
            let late_sources: Vec<&str> =
                late.iter().map(|&i| rows[i].key.source.as_str()).collect();
            let late_ids: Vec<&str> = late
                .iter()
                .map(|&i| rows[i].key.external_id.as_str())
                .collect();
            for (position, id, _) in self.ids_of(&sql.select, &late_sources, &late_ids).await? {
                let id = parse_id(&id)?;
                let change = if updated.contains(&id) {
                    Change::Updated
                } else {
                    Change::Unchanged
                };
                changes[late[position as usize]] = Some((id, change));
            }
        }
        every_row_answered(changes)
    }

    /// A batch that is probably a re-send: rows whose last sync sent the same fingerprint are
    /// unchanged; the others go through the look that compares fields.
    async fn write_resend(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
        batch: &Batch,
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
            let written = self.look_and_write(entity, &subset, &subset_batch).await?;
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
        sources: &[String],
        external_ids: &[String],
        fingerprints: &[i64],
    ) -> Result<Vec<Option<Found>>, StoreError> {
        let rows: Vec<(i64, String, bool, bool)> = sqlx::query_as(sql)
            .persistent(plan_once(sources.len()))
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(sources)
            .bind(external_ids)
            .bind(fingerprints)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(store_error)?;
        let mut found: Vec<Option<Found>> = (0..sources.len()).map(|_| None).collect();
        for (index, id, deleted, differs) in rows {
            found[index as usize] = Some(Found {
                id: parse_id(&id)?,
                deleted,
                differs,
            });
        }
        Ok(found)
    }

    /// The row with each key, by position in `sources`/`external_ids`: id and deleted flag.
    async fn ids_of(
        &mut self,
        sql: &str,
        sources: &[&str],
        external_ids: &[&str],
    ) -> Result<Vec<(i64, String, bool)>, StoreError> {
        sqlx::query_as(sql)
            .persistent(plan_once(sources.len()))
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(sources)
            .bind(external_ids)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(store_error)
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
        let sql = format!(
            "SELECT id::text FROM {table} \
             WHERE tenant_id = $1::uuid AND mode = $2::text AND deleted_at IS NULL{active} \
               AND id = ANY($3::uuid[])",
            table = entity.plural()
        );
        let texts: Vec<String> = ids.iter().map(|id| id.hyphenated().to_string()).collect();
        let found: Vec<String> = sqlx::query_scalar(&sql)
            .persistent(plan_once(ids.len()))
            .bind(self.tenant())
            .bind(self.scope.mode.as_str())
            .bind(texts)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(store_error)?;
        parse_ids(&found)
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
             RETURNING {parent}::text, id::text, external_id",
            table = entity.plural()
        );
        let text = |ids: &[Uuid]| -> Vec<String> {
            ids.iter().map(|id| id.hyphenated().to_string()).collect()
        };
        let rows: Vec<(String, String, String)> = sqlx::query_as(&sql)
            .persistent(plan_once(parents.len()))
            .bind(&self.now)
            .bind(text(parents))
            .bind(text(keep))
            .fetch_all(&mut *self.conn)
            .await
            .map_err(store_error)?;
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
            return self.look_and_write(entity, rows, &batch).await;
        }
        // A batch is most often all new, all stored and unchanged (a re-send) or all stored and
        // changed, and its first record tells which. A new one is inserted by one statement
        // without looking each row up first (1000 flat jobs: 16 ms for the look that also
        // inserts, against 12 for the ceiling's upsert); what it skipped already existed and
        // goes through the look, which finds the rows just inserted under this sync's ids. A
        // re-send is looked up by key and fingerprint; only the rows that are not unchanged by
        // fingerprint go through the look that compares fields.
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
            None => {
                let arguments =
                    batch.arguments(&self.tenant(), self.scope.mode.as_str(), &self.now)?;
                let inserted = sqlx::query_with(&sql.insert, arguments)
                    .persistent(false)
                    .execute(&mut *self.conn)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                if inserted == rows.len() as u64 {
                    self.created.push((entity, rows.len()));
                    return Ok(rows.iter().map(|row| (row.id, Change::Created)).collect());
                }
                self.look_and_write(entity, rows, &batch).await
            }
            Some(found) if !found.needs_write() => self.write_resend(entity, rows, &batch).await,
            Some(_) => self.look_and_write(entity, rows, &batch).await,
        }
    }

    async fn resolve(
        &mut self,
        entity: Entity,
        keys: &[(&str, &str)],
    ) -> Result<Vec<Option<Uuid>>, StoreError> {
        let sql = format!(
            "SELECT r.idx - 1, t.id::text, false \
             FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS r(src, ext, idx) {live}",
            live = row_by_key(entity.plural(), "t.id", " AND t.deleted_at IS NULL", "")
        );
        let (sources, external_ids): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
        let found = self.ids_of(&sql, &sources, &external_ids).await?;
        let mut ids = vec![None; keys.len()];
        for (index, id, _) in found {
            ids[index as usize] = Some(parse_id(&id)?);
        }
        Ok(ids)
    }

    async fn active_cells_named(
        &mut self,
        names: &[&str],
    ) -> Result<HashMap<String, Vec<Uuid>>, StoreError> {
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.name, c.id::text FROM cells AS c \
             WHERE c.tenant_id = $1::uuid AND c.mode = $2::text AND c.active \
               AND c.deleted_at IS NULL \
               AND c.name = ANY($3::text[])",
        )
        .persistent(plan_once(names.len()))
        .bind(self.tenant())
        .bind(self.scope.mode.as_str())
        .bind(names)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(store_error)?;
        let mut cells: HashMap<String, Vec<Uuid>> = HashMap::new();
        for (name, id) in found {
            cells.entry(name).or_default().push(parse_id(&id)?);
        }
        Ok(cells)
    }
}
