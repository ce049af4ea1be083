//! Reading records back, written once for both engines: the statements (with the dialect's
//! placeholders and casts), the typed decoding of their rows into [`RecordView`]s and the
//! assembly of a job's or a part's tree. An engine only runs a statement with its binds
//! ([`Reader`]); the API's JSON is written from the views (`domain/view.rs`), not by SQL.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::value::RawValue;
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use super::listing::{listing, Bind, Dialect};
use super::{ListQuery, Page, RecordRef, StoreError};
use crate::domain::schema::{Entity, Kind};
use crate::domain::view::{children_of, reference_label, FieldValue, RecordView};
use crate::domain::Scope;

/// Runs read statements on one connection of an engine.
#[async_trait]
pub(crate) trait Reader: Send {
    /// The records of `entity` a statement selecting [`columns`] finds, with `binds` bound to
    /// its placeholders in order.
    async fn records(
        &mut self,
        entity: Entity,
        sql: &str,
        binds: &[Bind],
    ) -> Result<Vec<RecordView>, StoreError>;

    /// The number a `SELECT count(*)` answers.
    async fn count(&mut self, sql: &str, binds: &[Bind]) -> Result<u64, StoreError>;
}

/// What differs in reading between the engines: how a value is selected so that both hand
/// over the same types (ids, dates and times as text, integers as 64 bits).
impl Dialect {
    /// The placeholder of the `n`th bind, of SQL type `cast`.
    pub(crate) fn param(self, n: usize, cast: &str) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres { .. } => format!("${n}::{cast}"),
        }
    }

    fn id(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres { .. } => format!("{column}::text"),
        }
    }

    fn int(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres { .. } => format!("{column}::bigint"),
        }
    }

    fn date(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres { .. } => format!("to_char({column}, 'YYYY-MM-DD')"),
        }
    }

    /// A JSON column as text. SQLite's `json()` prints the stored canonical text the way its
    /// records always showed it (exponents as `1e+20`).
    fn json(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json({column})"),
            Dialect::Postgres { .. } => format!("{column}::text"),
        }
    }

    fn timestamp(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres { .. } => timestamp_text(column),
        }
    }

    /// Whether JSON columns come back in canonical form. SQLite keeps the canonical text the
    /// API stored; PostgreSQL's `jsonb` prints its own key order and spacing, which
    /// `serde_json` then prints canonically.
    fn canonical_json(self) -> bool {
        matches!(self, Dialect::Sqlite)
    }
}

/// PostgreSQL: `x` as the text of a UTC timestamp in the store's format
/// (`2024-01-02T03:04:05.000000Z`), the text SQLite stores.
pub(crate) fn timestamp_text(x: &str) -> String {
    format!("to_char({x} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// The select list of a record of `entity` aliased `t`, in the order `decode` reads it.
pub(crate) fn columns(entity: Entity, dialect: Dialect) -> String {
    let mut list = vec![
        dialect.id("t.id"),
        "t.external_id".to_owned(),
        "t.external_source".to_owned(),
    ];
    for column in entity.read_columns() {
        let name = format!("t.\"{}\"", column.name);
        let selected = match column.kind {
            Kind::Reference(parent) => {
                let (_, key) = reference_label(parent);
                list.push(dialect.id(&name));
                format!(
                    "(SELECT p.{key} FROM {table} AS p WHERE p.id = {name})",
                    table = parent.plural()
                )
            }
            Kind::Text | Kind::Real | Kind::Bool => name,
            Kind::Int => dialect.int(&name),
            Kind::Date => dialect.date(&name),
            Kind::Time => dialect.timestamp(&name),
            Kind::Json => dialect.json(&name),
        };
        list.push(selected);
    }
    for time in ["synced_at", "created_at", "updated_at", "deleted_at"] {
        list.push(dialect.timestamp(&format!("t.{time}")));
    }
    // Named `c0`, `c1`, … so that a statement can be read as a subquery ([`packed`]).
    list.iter()
        .enumerate()
        .map(|(k, column)| format!("{column} AS c{k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(error))
}

/// A record of `entity` from a row whose columns from `start` on are those [`columns`]
/// selects (0 for a read; PostgreSQL's upsert returns them after its own).
pub(crate) fn decode<'r, R>(
    entity: Entity,
    row: &'r R,
    start: usize,
    dialect: Dialect,
) -> Result<RecordView, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut at = start;
    let mut next = || {
        at += 1;
        at - 1
    };
    let uuid = |text: &str| Uuid::parse_str(text).map_err(decode_error);
    let id = uuid(row.try_get::<&str, _>(next())?)?;
    let external_id: String = row.try_get(next())?;
    let external_source: Option<String> = row.try_get(next())?;
    let mut values = Vec::with_capacity(entity.columns().len());
    for column in entity.read_columns() {
        let value = match column.kind {
            Kind::Reference(_) => FieldValue::Reference {
                id: row
                    .try_get::<Option<&str>, _>(next())?
                    .map(uuid)
                    .transpose()?,
                label: row.try_get(next())?,
            },
            Kind::Text | Kind::Date | Kind::Time => row
                .try_get::<Option<String>, _>(next())?
                .map_or(FieldValue::Null, FieldValue::Text),
            Kind::Int => row
                .try_get::<Option<i64>, _>(next())?
                .map_or(FieldValue::Null, FieldValue::Int),
            Kind::Real => row
                .try_get::<Option<f64>, _>(next())?
                .map_or(FieldValue::Null, FieldValue::Real),
            Kind::Bool => row
                .try_get::<Option<bool>, _>(next())?
                .map_or(FieldValue::Null, FieldValue::Bool),
            Kind::Json => match row.try_get::<Option<String>, _>(next())? {
                None => FieldValue::Null,
                Some(text) => FieldValue::Json(canonical(text, dialect)?),
            },
        };
        values.push(value);
    }
    Ok(RecordView::new(
        entity,
        id,
        external_id,
        external_source,
        values,
        row.try_get(next())?,
        row.try_get(next())?,
        row.try_get(next())?,
        row.try_get(next())?,
    ))
}

/// A stored JSON value in canonical form: sorted keys, no white space, as `serde_json` prints.
fn canonical(text: String, dialect: Dialect) -> Result<Box<RawValue>, sqlx::Error> {
    if dialect.canonical_json() {
        RawValue::from_string(text).map_err(decode_error)
    } else {
        let value: serde_json::Value = serde_json::from_str(&text).map_err(decode_error)?;
        serde_json::value::to_raw_value(&value).map_err(decode_error)
    }
}

/// The tenant's and mode's binds, placeholders 1 and 2 of every read.
fn scope_binds(scope: Scope) -> Vec<Bind> {
    vec![
        Bind::Text(scope.tenant_id.hyphenated().to_string()),
        Bind::Text(scope.mode.as_str().to_owned()),
    ]
}

/// A page of a list request, and how many records match in all.
pub(crate) async fn list(
    reader: &mut impl Reader,
    dialect: Dialect,
    scope: Scope,
    entity: Entity,
    query: &ListQuery,
) -> Result<Page, StoreError> {
    let listing = listing(entity, query, dialect);
    let table = entity.plural();
    let page_sql = format!(
        "SELECT {columns} FROM {table} AS t WHERE {filters} ORDER BY {order} \
         LIMIT {limit} OFFSET {offset}",
        columns = columns(entity, dialect),
        filters = listing.page_filters,
        order = listing.order_by,
        limit = listing.limit,
        offset = listing.offset,
    );
    let count_sql = format!(
        "SELECT count(*) FROM {table} AS t WHERE {}",
        listing.filters
    );
    let mut binds = scope_binds(scope);
    binds.extend(listing.binds);
    let total = reader.count(&count_sql, &binds).await?;
    binds.extend(listing.cursor);
    binds.push(Bind::Int(i64::from(query.limit)));
    binds.push(Bind::Int(i64::from(query.offset)));
    let records = reader.records(entity, &page_sql, &binds).await?;
    Ok(Page {
        last_id: records.last().map(|r| r.id),
        records,
        total,
    })
}

/// Whether reading one record of `entity` takes several statements, which should then see one
/// snapshot of the data.
pub(crate) fn reads_a_tree(entity: Entity) -> bool {
    children_of(entity).is_some()
}

/// The order children are listed in: parts oldest first, operations by sequence (unsequenced
/// last).
fn order_of(entity: Entity) -> &'static str {
    match entity {
        Entity::Operations => "t.sequence IS NULL, t.sequence, t.id",
        _ => "t.id",
    }
}

/// The record `id` of `entity` as `GET` shows it, without its children, deleted or not: what
/// a floor transition's event carries (`floor_records::transition_events_carry_the_record`).
pub(crate) async fn by_id(
    reader: &mut impl Reader,
    dialect: Dialect,
    entity: Entity,
    id: Uuid,
) -> Result<Option<RecordView>, StoreError> {
    let sql = format!(
        "SELECT {} FROM {} AS t WHERE t.id = {}",
        columns(entity, dialect),
        entity.plural(),
        dialect.param(1, "uuid"),
    );
    let id = [Bind::Text(id.hyphenated().to_string())];
    Ok(reader.records(entity, &sql, &id).await?.pop())
}

/// One record; a job with its parts and their operations, a part with its operations.
pub(crate) async fn get(
    reader: &mut impl Reader,
    dialect: Dialect,
    scope: Scope,
    entity: Entity,
    target: &RecordRef,
    include_deleted: bool,
) -> Result<Option<RecordView>, StoreError> {
    let (by_external, keys) = key_params(target);
    let key = if by_external {
        format!(
            "t.external_source = {} AND t.external_id = {}",
            dialect.param(3, "text"),
            dialect.param(4, "text")
        )
    } else {
        format!("t.id = {}", dialect.param(3, "uuid"))
    };
    let sql = format!(
        "SELECT {columns} FROM {table} AS t \
         WHERE t.tenant_id = {tenant} AND t.mode = {mode} AND {key}{live}",
        columns = columns(entity, dialect),
        table = entity.plural(),
        tenant = dialect.param(1, "uuid"),
        mode = dialect.param(2, "text"),
        live = visible("t", include_deleted),
    );
    let mut binds = scope_binds(scope);
    binds.extend(keys.into_iter().map(Bind::Text));
    let Some(mut record) = reader.records(entity, &sql, &binds).await?.pop() else {
        return Ok(None);
    };
    let Some(child) = children_of(entity) else {
        return Ok(Some(record));
    };
    let parent = [Bind::Text(record.id.hyphenated().to_string())];
    let mut children = reader
        .records(
            child,
            &children_sql(child, dialect, include_deleted),
            &parent,
        )
        .await?;
    if let Some(grandchild) = children_of(child) {
        let grandchildren = reader
            .records(
                grandchild,
                &grandchildren_sql(child, grandchild, dialect, include_deleted),
                &parent,
            )
            .await?;
        nest(&mut children, grandchildren);
    }
    record.children = Some(children);
    Ok(Some(record))
}

/// The records of `child` whose parent is bound to placeholder 1.
fn children_sql(child: Entity, dialect: Dialect, include_deleted: bool) -> String {
    format!(
        "SELECT {columns} FROM {table} AS t WHERE t.{parent} = {id}{live} ORDER BY {order}",
        columns = columns(child, dialect),
        table = child.plural(),
        parent = parent_column(child),
        id = dialect.param(1, "uuid"),
        live = visible("t", include_deleted),
        order = order_of(child),
    )
}

/// The records of `grandchild` under the (visible) `child` records whose parent is bound to
/// placeholder 1.
fn grandchildren_sql(
    child: Entity,
    grandchild: Entity,
    dialect: Dialect,
    include_deleted: bool,
) -> String {
    format!(
        "SELECT {columns} FROM {table} AS t \
         WHERE t.{parent} IN (SELECT pt.id FROM {children} AS pt \
         WHERE pt.{grandparent} = {id}{live_child}){live} ORDER BY {order}",
        columns = columns(grandchild, dialect),
        table = grandchild.plural(),
        parent = parent_column(grandchild),
        children = child.plural(),
        grandparent = parent_column(child),
        id = dialect.param(1, "uuid"),
        live_child = visible("pt", include_deleted),
        live = visible("t", include_deleted),
        order = order_of(grandchild),
    )
}

/// Hands each of `grandchildren` (in their order) to the child it belongs to.
fn nest(children: &mut [RecordView], grandchildren: Vec<RecordView>) {
    let mut by_parent: HashMap<Uuid, Vec<RecordView>> = HashMap::new();
    for record in grandchildren {
        if let Some(parent) = record.reference(parent_column(record.entity)) {
            by_parent.entry(parent).or_default().push(record);
        }
    }
    for child in children {
        child.children = Some(by_parent.remove(&child.id).unwrap_or_default());
    }
}

/// The bind values that name a record: its id, or its source and external id.
pub(crate) fn key_params(target: &RecordRef) -> (bool, Vec<String>) {
    match target {
        RecordRef::Id(id) => (false, vec![id.hyphenated().to_string()]),
        RecordRef::External {
            source,
            external_id,
        } => (true, vec![source.clone(), external_id.clone()]),
    }
}

/// The condition that hides deleted rows of `alias`, unless they were asked for.
pub(crate) fn visible(alias: &str, include_deleted: bool) -> String {
    if include_deleted {
        String::new()
    } else {
        format!(" AND {alias}.deleted_at IS NULL")
    }
}

/// The column tying a child row to its parent.
pub(crate) fn parent_column(entity: Entity) -> &'static str {
    entity
        .columns()
        .iter()
        .find(|c| {
            matches!(
                c.kind,
                crate::domain::schema::Kind::Reference(Entity::Jobs | Entity::Parts)
            )
        })
        .map(|c| c.name)
        .expect("only parts and operations are retired")
}
