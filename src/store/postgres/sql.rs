//! The statements of PostgreSQL's set-based upserts (`sync.rs` runs them), written once per
//! entity from its declared columns: the batch as one typed array per column, unnested side by
//! side, and every match of a batch row to a stored row a lateral probe of the identity index.

use std::sync::OnceLock;

use crate::domain::floor::{sync_may_write, synced_fingerprint};
use crate::domain::schema::{Column, Default, Entity, Kind};
use crate::store::listing::Dialect;
use crate::store::read::columns as view_columns;

pub(super) struct UpsertSql {
    /// Inserts the new rows and updates the changed ones; answers, per row written, whether
    /// it was deleted before, whether it was inserted, its key, and the record as a read
    /// shows it ([`WRITTEN_VIEW_AT`] on, `store/read.rs::columns`); then, with `NULL` in
    /// the first four columns, each live stored row of the batch whose last sync sent another
    /// fingerprint, as it was before the statement.
    pub upsert: String,
    /// The same for a batch of one.
    pub upsert_one: String,
    /// Per batch row of `[source, external_id, fingerprint]` that has a stored row: its index,
    /// id, whether it is deleted, and whether its last sync sent another fingerprint.
    pub key_look: String,
    /// Per batch row of `[source, external_id]` that has a stored row: its index and id.
    pub select: String,
}

/// The column of an upsert's answer where the written record's columns begin.
pub(super) const WRITTEN_VIEW_AT: usize = 4;

pub(super) fn upsert_sql(entity: Entity) -> &'static UpsertSql {
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
        Kind::Time => "timestamptz[]",
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
    format!(
        "unnest({}) AS {}",
        batch_arrays(columns).join(", "),
        row_alias(columns)
    )
}

/// `batch_rows` for a batch of one, as the first element of each array. A statement over
/// `unnest` is planned for an unknown number of rows, so PostgreSQL never settles on the plan
/// it keeps for a prepared statement and plans the single-record sync at every call (0.1 ms of
/// a 1 ms PUT); a row of subscripts is one row to the planner.
fn single_row(columns: &[Column]) -> String {
    let firsts: Vec<String> = batch_arrays(columns)
        .iter()
        .map(|array| format!("({array})[1]"))
        .collect();
    format!("(SELECT {}) AS {}", firsts.join(", "), row_alias(columns))
}

fn batch_arrays(columns: &[Column]) -> Vec<String> {
    let keys = [
        "$4::uuid[]",
        "$5::text[]",
        "$6::text[]",
        "$7::bigint[]",
        "$8::bigint[]",
    ];
    let mut arrays: Vec<String> = keys.into_iter().map(String::from).collect();
    arrays.extend(
        columns
            .iter()
            .enumerate()
            .map(|(k, c)| format!("${}::{}", 9 + k, array_type(c.kind))),
    );
    arrays
}

fn row_alias(columns: &[Column]) -> String {
    let names: Vec<String> = (0..columns.len()).map(|k| format!("v{k}")).collect();
    format!("r(id, src, ext, mask, fp, {})", names.join(", "))
}

/// `CROSS JOIN LATERAL` the row of `table` whose key is the batch row `r`'s, as `t(columns)`.
/// `OFFSET 0` keeps the subquery from being flattened into a join the planner may reorder.
pub(super) fn row_by_key(table: &str, columns: &str, condition: &str) -> String {
    format!(
        "CROSS JOIN LATERAL (SELECT {columns} FROM {table} AS t \
         WHERE t.tenant_id = $1::uuid AND t.mode = $2::text \
           AND t.external_source = r.src AND t.external_id = r.ext{condition} \
         OFFSET 0) AS t"
    )
}

/// Whether a statement over a batch of `rows` may keep its plan (a prepared statement).
/// A batch joins its rows to tables whose size changes by orders of magnitude during a load, and
/// a plan cached while a table was small scans it per batch row later (816 ms instead of ~2 ms
/// for 1000 keys): batches are planned at each execution (unnamed statements). A single record,
/// the common real-time sync, keeps its plan: a one-row look-up stays an index probe, and
/// parsing the statement again would cost a third of its time. (A session-wide
/// `plan_cache_mode = force_custom_plan` would also re-plan the foreign-key checks PostgreSQL
/// runs per inserted row: 3× their cost, 94 ms of a 9000-record nested insert; see
/// docs/decisions/0011-postgres-plan-batches-per-execution.md.)
pub(super) fn plan_once(rows: usize) -> bool {
    rows == 1
}

fn build_upsert_sql(entity: Entity) -> UpsertSql {
    let table = entity.plural();
    let columns = entity.columns();
    let names: Vec<String> = columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let sent_values: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(k, c)| format!("{} AS v{k}", value_expr(c, k)))
        .collect();
    let assigned: Vec<String> = (0..columns.len()).map(|k| format!("r.v{k}")).collect();
    let was_sent = |k: usize| format!("(excluded.sync_mask & {}) <> 0", 1u64 << k);
    let assignments: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            format!(
                "{name} = CASE WHEN {} THEN excluded.{name} ELSE t.{name} END",
                sync_may_write(entity, columns[k].name, was_sent(k))
            )
        })
        .collect();
    // Whether a sent value differs from the stored one (a deleted row is written whatever its
    // values: the sync brings it back).
    let differs = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            format!(
                "({} AND t.{name} IS DISTINCT FROM excluded.{name})",
                sync_may_write(entity, columns[k].name, was_sent(k))
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    // One statement, one pass over the batch in key order, so concurrent batches take their
    // row locks (of the rows they insert and of the rows they update) in one global order and
    // wait for each other instead of deadlocking. A row is written only if it was deleted or
    // a sent value differs; RETURNING answers the rows written, `xmax = 0` the inserted ones.
    // Whether a row was deleted is set by the update from the row it locked (`t.` in `SET`
    // is the newest version), not read from the statement's snapshot: a `DELETE` that
    // committed while the statement waited for the row is seen, and the sync says `restored`
    // (`races::a_sync_racing_a_delete_names_what_it_did`). The written rows come back as a
    // read shows them, through the read's own select list, and so do the rows it may change as
    // they were (`before`, the statement's snapshot): the sync's events need no read of their own (docs/decisions/0028-engines-answer-the-rows-around-the-upsert.md).
    let upsert_over = |rows: &str| {
        format!(
            "WITH sent AS (SELECT r.id, r.src, r.ext, r.mask, r.fp, {sent_values} FROM {rows}), \
         written AS ( \
             INSERT INTO {table} AS t (id, tenant_id, mode, external_source, external_id, {names}, \
                 created_at, updated_at, synced_at, sync_fingerprint, sync_mask, sync_restored) \
             SELECT r.id, $1::uuid, $2::text, r.src, r.ext, {assigned}, \
                 $3::timestamptz, $3::timestamptz, $3::timestamptz, r.fp, r.mask, false \
             FROM sent AS r ORDER BY r.src COLLATE \"C\", r.ext COLLATE \"C\" \
             ON CONFLICT (tenant_id, mode, external_source, external_id) DO UPDATE \
             SET {assignments}, updated_at = excluded.updated_at, synced_at = excluded.synced_at, \
                 deleted_at = NULL, sync_fingerprint = {fingerprinted}, \
                 sync_mask = excluded.sync_mask, sync_restored = t.deleted_at IS NOT NULL \
             WHERE t.deleted_at IS NOT NULL OR {differs} \
             RETURNING t.sync_restored AS w_restored, t.xmax = 0 AS inserted, \
                 t.external_source AS w_src, t.external_id AS w_ext, {view}) \
         SELECT w.* FROM written AS w \
         UNION ALL SELECT NULL, NULL, NULL, NULL, b.* FROM ( \
             SELECT {view} FROM sent AS r {stale}) AS b",
            sent_values = sent_values.join(", "),
            names = names.join(", "),
            assigned = assigned.join(", "),
            assignments = assignments.join(", "),
            fingerprinted = synced_fingerprint(entity),
            view = view_columns(entity, Dialect::Postgres { icu: false }),
            stale = row_by_key(
                table,
                "*",
                " AND t.deleted_at IS NULL AND t.sync_fingerprint IS DISTINCT FROM r.fp"
            ),
        )
    };
    let upsert = upsert_over(&batch_rows(columns));
    let upsert_one = upsert_over(&single_row(columns));

    let select = format!(
        "SELECT r.idx - 1, t.id \
         FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS r(src, ext, idx) {stored}",
        stored = row_by_key(table, "t.id", "")
    );
    let key_look = format!(
        "SELECT r.idx - 1, t.id, t.deleted_at IS NOT NULL, \
                t.sync_fingerprint IS DISTINCT FROM r.fp \
         FROM unnest($3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS r(src, ext, fp, idx) \
         {stored}",
        stored = row_by_key(table, "t.id, t.deleted_at, t.sync_fingerprint", "")
    );
    UpsertSql {
        upsert,
        upsert_one,
        key_look,
        select,
    }
}
