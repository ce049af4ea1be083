//! The statements of the reads around a sync's upsert ([`super::sync_events`]): the stored rows
//! the upsert may change, and the written rows read back for the events.

use super::listing::{Bind, Dialect};
use super::read::columns;
use super::sync::UpsertRow;
use crate::domain::schema::Entity;
use crate::domain::Scope;

/// PostgreSQL: a batch of one row as a one-row subquery of the arrays' first elements, where a
/// batch would `unnest` them. A read of one record (each single PUT runs two) keeps a prepared
/// statement, and PostgreSQL keeps re-planning one whose cached plan it costs above the plan
/// for the row at hand: an array of unknown length against a known one-element array. Planning
/// was 180 µs of each PUT's reads against 35 µs of running them (`pg_stat_statements`, bench
/// `put`); a row whose every plan reads one row settles on the cached plan
/// (docs/decisions/0011-postgres-plan-batches-per-execution.md).
fn one_row(arrays: &[&str]) -> String {
    let firsts: Vec<String> = arrays.iter().map(|a| format!("({a})[1]")).collect();
    format!("(SELECT {})", firsts.join(", "))
}

/// The statement reading rows by id, bound to one list of `ids` ids. One id (a single PUT's
/// record) is read as the array's first element: see [`one_row`].
pub(super) fn by_ids_sql(entity: Entity, dialect: Dialect, ids: usize) -> String {
    let list = match dialect {
        Dialect::Sqlite => "t.id IN (SELECT value FROM json_each(?1))",
        Dialect::Postgres { .. } if ids == 1 => "t.id = ($1::text[])[1]::uuid",
        Dialect::Postgres { .. } => "t.id = ANY($1::text[]::uuid[])",
    };
    format!(
        "SELECT {} FROM {} AS t WHERE {list}",
        columns(entity, dialect),
        entity.plural()
    )
}

/// The statement (and its binds) reading the live stored rows of these keys whose last sync
/// sent another fingerprint: the rows an upsert of `rows` may change.
pub(super) fn stale_rows(
    scope: Scope,
    entity: Entity,
    rows: &[UpsertRow<'_>],
    dialect: Dialect,
) -> (String, Vec<Bind>) {
    let mut scratch = Vec::new();
    let fingerprints: Vec<i64> = rows
        .iter()
        .map(|row| row.fingerprint(row.mask(), &mut scratch))
        .collect();
    let mut binds = vec![
        Bind::Text(scope.tenant_id.hyphenated().to_string()),
        Bind::Text(scope.mode.as_str().to_owned()),
    ];
    let table = entity.plural();
    // Each batch row probes the identity index once, whatever the planner believes of the
    // table's size: SQLite's `CROSS JOIN` keeps the batch outside, where a plain join let its
    // planner scan the whole table per batch row; PostgreSQL's `LATERAL … OFFSET 0` does the
    // same where a plan made while the table looked empty hashed all of the tenant's rows for
    // every single PUT (9–14 ms at 4 000 jobs, growing with the table; bench figure `put_c1`
    // run alone on a fresh database).
    let (from, differs) = match dialect {
        Dialect::Sqlite => {
            let keys: Vec<(&str, &str, i64)> = rows
                .iter()
                .zip(&fingerprints)
                .map(|(row, fp)| (row.key.source.as_str(), row.key.external_id.as_str(), *fp))
                .collect();
            binds.push(Bind::Text(
                serde_json::to_string(&keys).expect("keys serialize"),
            ));
            (
                format!(
                    "json_each(?3) AS r CROSS JOIN {table} AS t ON t.tenant_id = ?1 \
                     AND t.mode = ?2 AND t.external_source = r.value ->> 0 \
                     AND t.external_id = r.value ->> 1"
                ),
                "t.sync_fingerprint IS NOT (r.value ->> 2)",
            )
        }
        Dialect::Postgres { .. } => {
            binds.push(Bind::Texts(
                rows.iter().map(|r| r.key.source.clone()).collect(),
            ));
            binds.push(Bind::Texts(
                rows.iter().map(|r| r.key.external_id.clone()).collect(),
            ));
            binds.push(Bind::Texts(
                fingerprints.iter().map(i64::to_string).collect(),
            ));
            let batch = if rows.len() == 1 {
                one_row(&["$3::text[]", "$4::text[]", "$5::text[]"])
            } else {
                "unnest($3::text[], $4::text[], $5::text[])".to_owned()
            };
            (
                format!(
                    "{batch} AS r(src, ext, fp) \
                     CROSS JOIN LATERAL (SELECT * FROM {table} AS t WHERE t.tenant_id = $1::uuid \
                     AND t.mode = $2::text AND t.external_source = r.src \
                     AND t.external_id = r.ext OFFSET 0) AS t"
                ),
                "t.sync_fingerprint IS DISTINCT FROM r.fp::bigint",
            )
        }
    };
    let sql = format!(
        "SELECT {columns} FROM {from} WHERE t.deleted_at IS NULL AND {differs}",
        columns = columns(entity, dialect),
    );
    (sql, binds)
}
