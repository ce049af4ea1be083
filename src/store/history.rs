//! The sync history, written once for both engines over [`Statements`]: one entry per sync
//! call, appended on its own or inside the sync's transaction, listed newest first.

use uuid::Uuid;

use super::tx::{Arg, Row, Statements};
use super::{timestamp, StoreError};
use crate::domain::history::{ImportEntry, ImportOutcome, ImportRecord};
use crate::domain::{Entity, Scope};

/// Filters of the sync history.
#[derive(Debug, Clone, Default)]
pub struct ImportQuery {
    pub entity: Option<Entity>,
    /// Only calls with this outcome.
    pub outcome: Option<ImportOutcome>,
    /// Only calls made at or after this stored timestamp.
    pub since: Option<String>,
    /// Only the call answered with this `X-Request-Id`.
    pub request_id: Option<String>,
    /// Only entries older than this one (an entry's id): pages that do not shift while new
    /// calls come in, as offsets do on a list that is newest first.
    pub before: Option<Uuid>,
    pub limit: u32,
    pub offset: u32,
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(Box::new(error)))
}

/// Appends entries to their tenants' sync history, on their own or inside a sync's
/// transaction: one statement for every entry (SQLite's group commit writes its group's at
/// once).
pub(crate) async fn insert(
    tx: &mut dyn Statements,
    entries: &[(Scope, &ImportEntry)],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut args = Vec::new();
    let sql = insert_statement(entries, &mut args);
    tx.run(&sql, args).await?;
    Ok(())
}

/// The `INSERT` of `entries` (at least one), its values bound after those already in `args`:
/// [`insert`] runs it alone, `events::append_after` ahead of a change's events on PostgreSQL.
pub(crate) fn insert_statement(entries: &[(Scope, &ImportEntry)], args: &mut Vec<Arg>) -> String {
    const TYPES: [&str; 20] = [
        "::uuid",
        "::uuid",
        "",
        "::uuid",
        "",
        "",
        "::json",
        "",
        "::integer",
        "::integer",
        "::integer",
        "::integer",
        "::integer",
        "::integer",
        "::json",
        "::integer",
        "::json",
        "",
        "",
        "::timestamptz",
    ];
    let count = |n: usize| Arg::Int(Some(n as i64));
    let created_at = timestamp();
    let mut values = Vec::with_capacity(entries.len());
    for (scope, entry) in entries {
        let n = args.len();
        let row: Vec<String> = TYPES
            .iter()
            .enumerate()
            .map(|(k, cast)| format!("${}{cast}", n + k + 1))
            .collect();
        values.push(format!("({})", row.join(", ")));
        args.extend([
            entry.id.into(),
            scope.tenant_id.into(),
            scope.mode.as_str().into(),
            entry.key_id.into(),
            entry.endpoint.as_str().into(),
            entry.entity.plural().into(),
            serde_json::to_string(&entry.sources)
                .expect("strings serialize")
                .into(),
            Arg::Bool(entry.dry_run),
            i64::from(entry.status).into(),
            count(entry.counts.total),
            count(entry.counts.created),
            count(entry.counts.updated),
            count(entry.counts.unchanged),
            count(entry.counts.errors),
            entry.error_details.to_string().into(),
            count(entry.kept),
            entry.kept_details.to_string().into(),
            (entry.duration_ms as i64).into(),
            entry.request_id.clone().into(),
            created_at.as_str().into(),
        ]);
    }
    format!(
        "INSERT INTO sync_imports (id, tenant_id, mode, key_id, endpoint, entity, sources, \
         dry_run, status, total, created, updated, unchanged, errors, error_details, kept, \
         kept_details, duration_ms, request_id, created_at) VALUES {}",
        values.join(", ")
    )
}

/// Binds tenant, mode, entity, since, outcome (`ImportOutcome::as_str`), request id and the
/// entry before which to list, in that order.
const FILTERS: &str =
    "i.tenant_id = $1::uuid AND i.mode = $2 AND ($3::text IS NULL OR i.entity = $3::text) \
     AND ($4::text IS NULL OR i.created_at >= $4::timestamptz) \
     AND ($6::text IS NULL OR i.request_id = $6::text) \
     AND ($7::uuid IS NULL OR i.id < $7::uuid) \
     AND ($5::text IS NULL OR ($5::text = 'clean' AND i.errors = 0 AND i.status < 400) \
       OR ($5::text = 'rejected' AND i.errors > 0 AND i.status < 400) OR ($5::text = 'failed' AND i.status >= 400))";

/// The history columns, in the order [`record`] reads them, then `error_details` and
/// `kept_details` (or NULLs).
fn columns(tx: &dyn Statements, details: bool) -> String {
    format!(
        "SELECT CAST(i.id AS TEXT), i.endpoint, i.entity, CAST(i.key_id AS TEXT), \
         CAST(i.sources AS TEXT), i.dry_run, i.status, i.total, i.created, i.updated, \
         i.unchanged, i.errors, i.duration_ms, i.request_id, {}, i.kept, {} FROM sync_imports AS i",
        tx.dialect().time("i.created_at"),
        if details {
            "CAST(i.error_details AS TEXT), CAST(i.kept_details AS TEXT)"
        } else {
            "NULL, NULL"
        },
    )
}

/// A JSON column read as `T`, if the row has it.
fn details<T: serde::de::DeserializeOwned>(row: &Row, k: usize) -> Result<Option<T>, StoreError> {
    row.opt_text(k)?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(decode_error)
}

fn record(row: &Row) -> Result<ImportRecord, StoreError> {
    let count = |k: usize| row.int(k).map(|n| n.max(0) as u64);
    Ok(ImportRecord {
        id: row.id(0)?,
        endpoint: row.text(1)?,
        entity: row.text(2)?,
        key_id: row.id(3)?,
        sources: serde_json::from_str(&row.text(4)?).map_err(decode_error)?,
        dry_run: row.int(5)? != 0,
        status: row.int(6)?.clamp(0, 999) as u16,
        total: count(7)?,
        created: count(8)?,
        updated: count(9)?,
        unchanged: count(10)?,
        errors: count(11)?,
        duration_ms: count(12)?,
        request_id: row.opt_text(13)?,
        created_at: row.text(14)?,
        kept: count(15)?,
        error_details: details(row, 16)?,
        kept_details: details(row, 17)?,
    })
}

/// The sync history, newest first (entries without their per-record errors), and how many
/// entries match in all.
pub(crate) async fn list(
    tx: &mut dyn Statements,
    scope: Scope,
    query: &ImportQuery,
) -> Result<(Vec<ImportRecord>, u64), StoreError> {
    let filters = || -> Vec<Arg> {
        vec![
            scope.tenant_id.into(),
            scope.mode.as_str().into(),
            query.entity.map(|e| e.plural().to_owned()).into(),
            query.since.clone().into(),
            query.outcome.map(|o| o.as_str().to_owned()).into(),
            query.request_id.clone().into(),
            query.before.map(|id| id.hyphenated().to_string()).into(),
        ]
    };
    let mut args = filters();
    args.extend([
        i64::from(query.limit).into(),
        i64::from(query.offset).into(),
    ]);
    let sql = format!(
        "{} WHERE {FILTERS} ORDER BY i.id DESC LIMIT $8 OFFSET $9",
        columns(tx, false)
    );
    let records = tx
        .rows(&sql, args)
        .await?
        .iter()
        .map(record)
        .collect::<Result<_, _>>()?;
    let total = tx
        .row(
            &format!("SELECT count(*) FROM sync_imports AS i WHERE {FILTERS}"),
            filters(),
        )
        .await?
        .map_or(Ok(0), |row| row.int(0))?;
    Ok((records, total.max(0) as u64))
}

/// One history entry with its per-record errors.
pub(crate) async fn get(
    tx: &mut dyn Statements,
    scope: Scope,
    id: Uuid,
) -> Result<Option<ImportRecord>, StoreError> {
    let sql = format!(
        "{} WHERE i.tenant_id = $1::uuid AND i.mode = $2 AND i.id = $3::uuid",
        columns(tx, true)
    );
    let args = vec![
        scope.tenant_id.into(),
        scope.mode.as_str().into(),
        id.into(),
    ];
    tx.row(&sql, args).await?.as_ref().map(record).transpose()
}
