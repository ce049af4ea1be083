//! The text of the SQLite writer's statements. Each reads its batch from one JSON parameter
//! through `json_each`, so a statement is the same text whatever the batch size; the upsert's
//! statements are built once per entity (`upsert_sql`).
//!
//! The update is an upsert on the rowid whose proposed row must never be inserted: should it
//! be, its tenant `''` fails the foreign key and the sync with it
//! (`sync::tests::an_update_of_a_row_that_is_not_stored_fails_and_creates_nothing`). It writes a
//! row only if the row holds the id sent with it, so a misremembered rowid writes no other row
//! (`sync::tests::a_misremembered_rowid_writes_no_other_row`). A column a row does not send keeps
//! its stored value, and a new row takes the column's default
//! (`semantics::absent_keeps_and_null_clears`). Why a look then an upsert by rowid:
//! docs/decisions/0003-sqlite-look-then-write-by-rowid.md.

use std::sync::OnceLock;

use crate::domain::floor::{floor_acts_on, sync_may_write, synced_fingerprint};
use crate::domain::schema::{Column, Default, Entity, Kind};
use crate::store::parent_column;

use super::encode::{INSERTED_VALUES, UPDATED_VALUES};

pub(super) struct UpsertSql {
    /// Per batch row of keys, fingerprints and references (`[source, external_id,
    /// fingerprint, refs…]`) that has a stored row: its index, rowid, id, whether it is
    /// deleted, and whether the row's last sync sent another fingerprint (bit 1) or it holds
    /// other references (bit 2).
    pub key_look: String,
    pub insert: String,
    /// The statements that write the sent values of stored rows by rowid, where they differ
    /// (or the row was deleted), indexed by [`Update::slot`].
    pub updates: [String; 4],
    /// Of the rowids in `?3` (a JSON array), those a sync at `?4` wrote: a row the floor
    /// acted on stores no fingerprint, so its `synced_at` tells whether an update wrote it.
    pub synced_now: String,
}

/// Which of the update statements writes a set of rows.
#[derive(Clone, Copy)]
pub(super) struct Update {
    /// Whether the references are written too. Left out of the assignments, a reference
    /// column keeps its index entries and foreign-key checks untouched.
    pub references: bool,
    /// Whether every row sends every column, so no assignment needs to keep a stored value.
    pub whole: bool,
}

impl Update {
    pub fn slot(self) -> usize {
        usize::from(self.references) * 2 + usize::from(self.whole)
    }
}

/// The upsert statements of an entity, built the first time they are asked for.
pub(super) fn upsert_sql(entity: Entity) -> &'static UpsertSql {
    static CACHE: [OnceLock<UpsertSql>; 5] = [const { OnceLock::new() }; 5];
    let slot = Entity::ALL
        .iter()
        .position(|e| *e == entity)
        .expect("every entity is listed");
    CACHE[slot].get_or_init(|| build_upsert_sql(entity))
}

fn default_literal(default: Default) -> String {
    match default {
        Default::Text(text) => format!("'{text}'"),
        Default::Int(value) => value.to_string(),
        Default::Bool(value) => i32::from(value).to_string(),
    }
}

/// The value to write for a column of the row in `r.value`, found at `position`: what was
/// sent, or the column's default when nothing (or `null`) was sent.
fn value_expr(column: &Column, position: usize) -> String {
    let sent = format!("r.value ->> {position}");
    match column.default {
        Some(default) => format!("COALESCE({sent}, {})", default_literal(default)),
        None => sent,
    }
}

/// The CTE `r(key, value)`: the rows of the batch in parameter `?{param}`, each as JSONB.
/// Reading a field from `json_each`'s `value` renders the row as text and parses it again for
/// every field; parsed once into JSONB, a 1000-row look took 1.9 ms instead of 3.2 (insert 2.4
/// instead of 3.6, update 2.3 instead of 3.1).
fn batch_rows(param: usize) -> String {
    format!("r AS MATERIALIZED (SELECT key, jsonb(value) AS value FROM json_each(?{param}))")
}

/// An entity's columns, quoted, in the order of its values.
fn column_names(entity: Entity) -> Vec<String> {
    entity
        .columns()
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect()
}

/// A row's values (references first), read from `first` on, where they follow its mask and
/// fingerprint.
fn values_from(entity: Entity, first: usize) -> String {
    let values: Vec<String> = entity
        .columns()
        .iter()
        .enumerate()
        .map(|(k, c)| value_expr(c, first + k))
        .collect();
    values.join(", ")
}

fn is_reference(entity: Entity, k: usize) -> bool {
    matches!(entity.columns()[k].kind, Kind::Reference(_))
}

fn build_upsert_sql(entity: Entity) -> UpsertSql {
    UpsertSql {
        key_look: key_look_sql(entity),
        insert: insert_sql(entity),
        updates: std::array::from_fn(|slot| {
            update_sql(
                entity,
                Update {
                    references: slot >= 2,
                    whole: slot % 2 == 1,
                },
            )
        }),
        synced_now: format!(
            "SELECT json_group_array(t.rowid) FROM json_each(?3) AS r CROSS JOIN {table} AS t \
             ON t.rowid = r.value WHERE t.tenant_id = ?1 AND t.mode = ?2 AND t.synced_at = ?4",
            table = entity.plural()
        ),
    }
}

/// A re-send is looked up by key and fingerprint alone: a row whose last sync sent the same
/// fingerprint is unchanged without reading a field. 1000 unchanged jobs: 0.84 ms, against
/// 2.07 for a look that compares fields. Rows are `[source, external_id, fingerprint,
/// refs…]`; the answer tells as bits whether the fingerprint (1) or a reference (2) differs,
/// and whether the floor has acted on the row (4).
fn key_look_sql(entity: Entity) -> String {
    let table = entity.plural();
    let references_differ: Vec<String> = column_names(entity)
        .iter()
        .enumerate()
        .filter(|&(k, _)| is_reference(entity, k))
        .map(|(k, name)| format!("t.{name} IS NOT r.value ->> {}", 3 + k))
        .collect();
    let references_differ = if references_differ.is_empty() {
        "0".to_owned()
    } else {
        format!("({})", references_differ.join(" OR "))
    };
    let floor = if floor_acts_on(entity) {
        "(t.floor_at IS NOT NULL)"
    } else {
        "0"
    };
    format!(
        "WITH {rows} \
         SELECT json_group_array(json_array(r.key, t.rowid, t.id, t.deleted_at IS NOT NULL, \
           (t.sync_fingerprint IS NOT r.value ->> 2) + 2 * {references_differ} + 4 * {floor})) \
         FROM r CROSS JOIN {table} AS t \
         ON t.tenant_id = ?1 AND t.mode = ?2 \
         AND t.external_source = r.value ->> 0 AND t.external_id = r.value ->> 1",
        rows = batch_rows(3),
    )
}

/// Inserts the rows `[id, source, external_id, mask, fingerprint, refs…, values…]` whose key
/// is not stored yet.
fn insert_sql(entity: Entity) -> String {
    format!(
        "INSERT INTO {table} (id, tenant_id, mode, external_source, external_id, {names}, created_at, updated_at, synced_at, sync_fingerprint) \
         WITH {rows} \
         SELECT r.value ->> 0, ?1, ?2, r.value ->> 1, r.value ->> 2, {values}, ?3, ?3, ?3, r.value ->> {fingerprint} \
         FROM r WHERE true \
         ON CONFLICT (tenant_id, mode, external_source, external_id) DO NOTHING",
        table = entity.plural(),
        rows = batch_rows(4),
        names = column_names(entity).join(", "),
        values = values_from(entity, INSERTED_VALUES),
        fingerprint = INSERTED_VALUES - 1,
    )
}

/// Only rows whose fingerprint differs (or that were deleted) are sent, each with its rowid
/// and id; of those, a row is written only if it was deleted or a sent value differs. The write
/// is an upsert on the rowid: SQLite runs `UPDATE … FROM` through a temporary table of the
/// joined rows, and the upsert took 1.8–2.1 ms for 1000 changed jobs against 2.4 (on the id,
/// 2.2–2.3). A rowid known from an insert is inferred (see `Inserted::rowids`), so a row is
/// written only if it holds the id sent with it. Its proposed row is never inserted (every row
/// it names is stored, and SQLite has one writer); should it be, its tenant '' fails the
/// foreign key and the sync with it. The proposed row's created_at and external_id, never
/// assigned, carry the row's mask and id.
fn update_sql(entity: Entity, update: Update) -> String {
    let names = column_names(entity);
    let sent = |k: usize| -> String {
        if update.whole {
            "true".to_owned()
        } else {
            format!("excluded.created_at & {}", 1u64 << k)
        }
    };
    let assignments: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|&(k, _)| update.references || !is_reference(entity, k))
        .map(|(k, name)| {
            let may = sync_may_write(entity, entity.columns()[k].name, sent(k));
            if may == "true" {
                format!("{name} = excluded.{name}")
            } else {
                format!("{name} = CASE WHEN {may} THEN excluded.{name} ELSE t.{name} END")
            }
        })
        .collect();
    let differs = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let may = sync_may_write(entity, entity.columns()[k].name, sent(k));
            format!("({may} AND t.{name} IS NOT excluded.{name})")
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    format!(
        "INSERT INTO {table} AS t (rowid, id, tenant_id, mode, external_source, external_id, {names}, created_at, updated_at, synced_at, sync_fingerprint) \
         WITH {rows} \
         SELECT r.value ->> 0, r.value ->> 0, '', 'live', '', r.value ->> 1, {values}, r.value ->> {mask}, ?1, ?1, r.value ->> {fingerprint} \
         FROM r WHERE true \
         ON CONFLICT (rowid) DO UPDATE SET {assignments}, updated_at = excluded.updated_at, \
           synced_at = excluded.synced_at, deleted_at = NULL, \
           sync_fingerprint = {fingerprinted} \
         WHERE t.id = excluded.external_id AND (t.deleted_at IS NOT NULL OR {differs})",
        table = entity.plural(),
        rows = batch_rows(2),
        names = names.join(", "),
        values = values_from(entity, UPDATED_VALUES),
        mask = UPDATED_VALUES - 2,
        fingerprint = UPDATED_VALUES - 1,
        assignments = assignments.join(", "),
        fingerprinted = synced_fingerprint(entity),
    )
}

/// The ids among `?3` (a JSON array) of live rows of this tenant and mode (for cells, active
/// ones), as one JSON array.
pub(super) fn live_ids(entity: Entity) -> String {
    let active = if entity == Entity::Cells {
        " AND active = 1"
    } else {
        ""
    };
    format!(
        "SELECT json_group_array(id) FROM {table} \
         WHERE tenant_id = ?1 AND mode = ?2 AND deleted_at IS NULL{active} \
         AND id IN (SELECT value FROM json_each(?3))",
        table = entity.plural()
    )
}

/// Soft-deletes, at `?1`, the live children of the parents in `?2` that are not in `?3`.
pub(super) fn retire(entity: Entity) -> String {
    let parent = parent_column(entity);
    format!(
        "UPDATE {table} SET deleted_at = ?1, updated_at = ?1 \
         WHERE {parent} IN (SELECT value FROM json_each(?2)) \
           AND id NOT IN (SELECT value FROM json_each(?3)) AND deleted_at IS NULL \
         RETURNING {parent}, id, external_source, external_id",
        table = entity.plural()
    )
}

/// Per key `[source, external_id]` of `?3` with a live row: its index and the row's id.
pub(super) fn resolve(entity: Entity) -> String {
    format!(
        "SELECT json_group_array(json_array(r.key, t.id)) \
         FROM json_each(?3) AS r CROSS JOIN {} AS t \
         ON t.tenant_id = ?1 AND t.mode = ?2 \
         AND t.external_source = r.value ->> 0 AND t.external_id = r.value ->> 1 \
         AND t.deleted_at IS NULL",
        entity.plural()
    )
}

/// The name and id of every active, live cell named in `?3`.
pub(super) const OPERATIONS_IN: &str = "SELECT json_group_array(json_array(o.external_source, \
     o.external_id, o.cell_id)) \
     FROM json_each(?3) AS r CROSS JOIN operations AS o \
     ON o.tenant_id = ?1 AND o.mode = ?2 AND o.cell_id = r.value AND o.deleted_at IS NULL";

pub(super) const CELLS_NAMED: &str = "SELECT json_group_array(json_array(c.name, c.id, \
     json(CASE WHEN c.active = 1 THEN 'true' ELSE 'false' END))) \
     FROM json_each(?3) AS r CROSS JOIN cells AS c \
     ON c.tenant_id = ?1 AND c.mode = ?2 AND c.name = r.value AND c.deleted_at IS NULL";
