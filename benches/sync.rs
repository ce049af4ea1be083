//! Sync throughput over real HTTP, against the engine's own ceiling and a naive baseline.
//!
//! `cargo bench --bench sync` runs SQLite; `./scripts/with-postgres.sh cargo bench --bench sync`
//! runs SQLite and PostgreSQL. See docs/performance.md for the figures and the knobs.

use std::process::Stdio;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use eryxon::config::{ServerConfig, DEFAULT_MAX_BODY_BYTES};
use eryxon::domain::api_key::{IssuedKey, TenantSlug};
use eryxon::domain::Mode;
use eryxon::store::{self, Store};
use serde_json::{json, Map, Value};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::{ConnectOptions, Connection, Row as _};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SOURCE: &str = "SAP";
const TENANT: &str = "bench";
const BATCH: usize = 1000;
/// A rate limit no benchmark reaches: the limiter still runs, it never refuses.
const RATE_LIMIT: u32 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Settings

struct Knobs {
    reps: usize,
    warmup: usize,
    big_rows: u64,
    puts: usize,
    baseline_reps: usize,
    load_reps: usize,
    engines: Vec<Engine>,
    /// Scenario groups to run: flat, nested, put, load, big.
    only: Option<Vec<String>>,
}

fn env_or<T: FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={text:?} is not a number")),
        Err(_) => Ok(default),
    }
}

impl Knobs {
    fn from_env() -> Result<Knobs> {
        let reps = env_or("ERYXON_BENCH_REPS", 5usize)?.max(1);
        let wanted = std::env::var("ERYXON_BENCH_ENGINES").unwrap_or("sqlite,postgres".into());
        let mut engines = Vec::new();
        for name in wanted.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "sqlite" => engines.push(Engine::Sqlite),
                "postgres" if postgres_admin_url().is_some() => engines.push(Engine::Postgres),
                "postgres" => eprintln!(
                    "PostgreSQL skipped: ERYXON_TEST_POSTGRES_URL is not set \
                     (run ./scripts/with-postgres.sh cargo bench --bench sync)"
                ),
                other => bail!("ERYXON_BENCH_ENGINES: unknown engine {other:?}"),
            }
        }
        Ok(Knobs {
            reps,
            warmup: env_or("ERYXON_BENCH_WARMUP", 1usize)?,
            big_rows: env_or("ERYXON_BENCH_BIG_ROWS", 1_000_000u64)?,
            puts: env_or("ERYXON_BENCH_PUTS", 2000usize)?.max(8),
            baseline_reps: env_or("ERYXON_BENCH_BASELINE_REPS", reps)?.max(1),
            load_reps: env_or("ERYXON_BENCH_LOAD_REPS", reps)?.max(1),
            engines,
            only: std::env::var("ERYXON_BENCH_ONLY")
                .ok()
                .map(|list| list.split(',').map(|g| g.trim().to_owned()).collect()),
        })
    }
}

impl Knobs {
    fn runs(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|groups| groups.iter().any(|g| g == group))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }

    /// Parameter `n` of a statement; PostgreSQL gets the cast that fixes its type.
    fn param(self, n: usize, ty: Ty) -> String {
        match self {
            Engine::Sqlite => format!("?{n}"),
            Engine::Postgres => format!("${n}::{}", ty.pg()),
        }
    }
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("ERYXON_TEST_POSTGRES_URL").ok()
}

// ---------------------------------------------------------------------------------------------
// Records: one description drives the HTTP bodies, the ceiling and the baseline, so all three
// write exactly the same values.

#[derive(Debug, Clone, Copy)]
enum Ty {
    Text,
    Int,
    Date,
    Json,
    Uuid,
    Time,
    BigInt,
}

impl Ty {
    fn pg(self) -> &'static str {
        match self {
            Ty::Text => "text",
            Ty::Int => "integer",
            Ty::Date => "date",
            Ty::Json => "jsonb",
            Ty::Uuid => "uuid",
            Ty::Time => "timestamptz",
            Ty::BigInt => "bigint",
        }
    }
}

/// A table as the bench writes it: own columns, and how its references resolve.
struct Spec {
    table: &'static str,
    /// The bulk body's key and the path's entity.
    entity: &'static str,
    columns: &'static [(&'static str, Ty)],
    /// Parent table, foreign-key column, and the field naming the parent on a flat endpoint.
    parent: Option<(&'static str, &'static str, &'static str)>,
    /// Operations name their cell.
    cell: bool,
}

const JOBS: Spec = Spec {
    table: "jobs",
    entity: "jobs",
    columns: &[
        ("job_number", Ty::Text),
        ("customer", Ty::Text),
        ("due_date", Ty::Date),
        ("priority", Ty::Int),
        ("status", Ty::Text),
        ("notes", Ty::Text),
        ("metadata", Ty::Json),
    ],
    parent: None,
    cell: false,
};

const PARTS: Spec = Spec {
    table: "parts",
    entity: "parts",
    columns: &[
        ("part_number", Ty::Text),
        ("material", Ty::Text),
        ("quantity", Ty::Int),
        ("status", Ty::Text),
        ("notes", Ty::Text),
        ("metadata", Ty::Json),
    ],
    parent: Some(("jobs", "job_id", "job_external_id")),
    cell: false,
};

const OPERATIONS: Spec = Spec {
    table: "operations",
    entity: "operations",
    columns: &[
        ("operation_name", Ty::Text),
        ("sequence", Ty::Int),
        ("estimated_time_minutes", Ty::Int),
        ("status", Ty::Text),
        ("notes", Ty::Text),
        ("metadata", Ty::Json),
    ],
    parent: Some(("parts", "part_id", "part_external_id")),
    cell: true,
};

const CELLS: Spec = Spec {
    table: "cells",
    entity: "cells",
    columns: &[
        ("name", Ty::Text),
        ("color", Ty::Text),
        ("sequence", Ty::Int),
        ("capacity_hours_per_day", Ty::Int),
    ],
    parent: None,
    cell: false,
};

const RESOURCES: Spec = Spec {
    table: "resources",
    entity: "resources",
    columns: &[
        ("name", Ty::Text),
        ("type", Ty::Text),
        ("identifier", Ty::Text),
        ("location", Ty::Text),
    ],
    parent: None,
    cell: false,
};

#[derive(Debug, Clone)]
enum V {
    T(String),
    I(i64),
}

#[derive(Debug, Clone)]
struct Row {
    ext: String,
    parent_ext: Option<String>,
    cell: Option<String>,
    values: Vec<V>,
}

impl Row {
    /// A hash of what the row sends, written where the server writes its sync fingerprint, so
    /// that the ceiling and the baseline store the very rows the server stores. Hashed with
    /// XXH3, the server's hash, so that it costs what the server's does.
    fn fingerprint(&self) -> i64 {
        let mut bytes = Vec::with_capacity(256);
        for value in &self.values {
            match value {
                V::T(text) => bytes.extend_from_slice(text.as_bytes()),
                V::I(int) => bytes.extend_from_slice(&int.to_le_bytes()),
            }
            bytes.push(0);
        }
        xxhash_rust::xxh3::xxh3_64(&bytes) as i64
    }
}

/// A job with its parts and each part's operations.
struct Nested {
    job: Row,
    parts: Vec<(Row, Vec<Row>)>,
}

const STATUSES: [&str; 4] = ["not_started", "in_progress", "completed", "on_hold"];
const MATERIALS: [&str; 5] = ["S235", "S355", "AlMg3", "1.4301", "PA6"];
const OPERATION_NAMES: [&str; 6] = ["Laser Cut", "Deburr", "Bend", "Weld", "Paint", "Inspect"];

fn date(n: usize) -> String {
    format!("2025-{:02}-{:02}", 1 + n % 12, 1 + (n / 12) % 28)
}

/// Job `i` as revision `rev` of the ERP sends it: every revision changes every record.
fn job(prefix: &str, i: usize, rev: usize) -> Row {
    let n = i + rev;
    Row {
        ext: format!("{prefix}-{i:06}"),
        parent_ext: None,
        cell: None,
        values: vec![
            V::T(format!("JOB-{prefix}-{i}")),
            V::T(format!("Customer {}", n % 97)),
            V::T(date(n)),
            V::I((n % 10) as i64),
            V::T(STATUSES[n % 4].into()),
            V::T(format!("ERP revision {rev} of order line {i}")),
            V::T(format!(r#"{{"line":{i},"rev":{rev}}}"#)),
        ],
    }
}

fn part(job_ext: &str, i: usize, j: usize, rev: usize) -> Row {
    let n = i + j + rev;
    Row {
        ext: format!("{job_ext}-{}", (j + 1) * 10),
        parent_ext: Some(job_ext.to_owned()),
        cell: None,
        values: vec![
            V::T(format!("PN-{}", (i * 7 + j) % 500)),
            V::T(MATERIALS[n % 5].into()),
            V::I(1 + (n % 50) as i64),
            V::T(STATUSES[n % 4].into()),
            V::T(format!("revision {rev}")),
            V::T(format!(r#"{{"rev":{rev},"routing":{j}}}"#)),
        ],
    }
}

fn operation(part_ext: &str, i: usize, k: usize, rev: usize, cells: usize) -> Row {
    let n = i + k + rev;
    Row {
        ext: format!("{part_ext}-{:03}", (k + 1) * 10),
        parent_ext: Some(part_ext.to_owned()),
        cell: Some(format!("Cell {}", (i + k) % cells)),
        values: vec![
            V::T(OPERATION_NAMES[k % 6].into()),
            V::I(k as i64 + 1),
            V::I(5 + (n % 120) as i64),
            V::T(STATUSES[n % 4].into()),
            V::T(format!("revision {rev}")),
            V::T(format!(r#"{{"rev":{rev},"step":{k}}}"#)),
        ],
    }
}

fn flat_jobs(prefix: &str, rev: usize) -> Vec<Row> {
    (0..BATCH).map(|i| job(prefix, i, rev)).collect()
}

const MAIN_CELLS: usize = 10;

/// 1000 jobs × 2 parts × 3 operations: 9000 records.
fn nested_jobs(prefix: &str, rev: usize) -> Vec<Nested> {
    (0..BATCH)
        .map(|i| {
            let job = job(prefix, i, rev);
            let parts = (0..2)
                .map(|j| {
                    let part = part(&job.ext, i, j, rev);
                    let operations = (0..3)
                        .map(|k| operation(&part.ext, i, k, rev, MAIN_CELLS))
                        .collect();
                    (part, operations)
                })
                .collect();
            Nested { job, parts }
        })
        .collect()
}

fn cell(i: usize) -> Row {
    Row {
        ext: format!("WC-{i:03}"),
        parent_ext: None,
        cell: None,
        values: vec![
            V::T(format!("Cell {i}")),
            V::T(format!("#{:06x}", (i * 0x3b82f6) & 0xffffff)),
            V::I(i as i64),
            V::I(8 + (i % 3) as i64 * 4),
        ],
    }
}

fn resource(i: usize) -> Row {
    const TYPES: [&str; 5] = ["tooling", "fixture", "mold", "material", "equipment"];
    Row {
        ext: format!("RES-{i:05}"),
        parent_ext: None,
        cell: None,
        values: vec![
            V::T(format!("{} {i}", TYPES[i % 5])),
            V::T(TYPES[i % 5].into()),
            V::T(format!("ID-{i:05}")),
            V::T(format!("Hall {}", i % 4)),
        ],
    }
}

/// A record as the API takes it; `top` records carry the source, `flat` children their parent.
fn record_json(spec: &Spec, row: &Row, top: bool) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("external_id".into(), row.ext.clone().into());
    if top {
        object.insert("external_source".into(), SOURCE.into());
        if let (Some((_, _, field)), Some(parent)) = (spec.parent, &row.parent_ext) {
            object.insert(field.into(), parent.clone().into());
        }
    }
    if let Some(cell) = &row.cell {
        object.insert("cell_name".into(), cell.clone().into());
    }
    for ((name, ty), value) in spec.columns.iter().zip(&row.values) {
        let value = match (ty, value) {
            (Ty::Json, V::T(text)) => serde_json::from_str(text).expect("bench metadata is JSON"),
            (_, V::T(text)) => Value::from(text.as_str()),
            (_, V::I(int)) => Value::from(*int),
        };
        object.insert((*name).into(), value);
    }
    object
}

fn nested_json(nested: &Nested) -> Value {
    let mut job = record_json(&JOBS, &nested.job, true);
    let parts: Vec<Value> = nested
        .parts
        .iter()
        .map(|(part, operations)| {
            let mut part = record_json(&PARTS, part, false);
            let operations: Vec<Value> = operations
                .iter()
                .map(|o| Value::Object(record_json(&OPERATIONS, o, false)))
                .collect();
            part.insert("operations".into(), operations.into());
            Value::Object(part)
        })
        .collect();
    job.insert("parts".into(), parts.into());
    Value::Object(job)
}

fn bulk_body(entity: &str, records: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ entity: records })).expect("JSON serializes")
}

fn flat_body(spec: &Spec, rows: &[Row]) -> Vec<u8> {
    let records = rows
        .iter()
        .map(|r| Value::Object(record_json(spec, r, true)))
        .collect();
    bulk_body(spec.entity, records)
}

fn nested_body(jobs: &[Nested]) -> Vec<u8> {
    bulk_body("jobs", jobs.iter().map(nested_json).collect())
}

/// The nested jobs as three flat levels, children pointing at their parent's external id.
fn levels(jobs: &[Nested]) -> (Vec<Row>, Vec<Row>, Vec<Row>) {
    let mut parts = Vec::new();
    let mut operations = Vec::new();
    for nested in jobs {
        for (part, ops) in &nested.parts {
            parts.push(part.clone());
            operations.extend(ops.iter().cloned());
        }
    }
    (
        jobs.iter().map(|n| n.job.clone()).collect(),
        parts,
        operations,
    )
}

// ---------------------------------------------------------------------------------------------
// Direct database access, for the fill, the ceiling and the baseline.

enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Texts(Vec<Option<&'a str>>),
    Ints(Vec<Option<i32>>),
    BigInts(Vec<i64>),
}

enum Raw {
    Lite(SqliteConnection),
    Pg(PgConnection),
}

impl Raw {
    async fn open(engine: Engine, url: &str) -> Result<Raw> {
        Ok(match engine {
            // The server's own connection settings, so the comparison is like for like.
            Engine::Sqlite => Raw::Lite(
                eryxon::store::sqlite::connect_options(url)?
                    .connect()
                    .await?,
            ),
            Engine::Postgres => Raw::Pg(PgConnection::connect(url).await?),
        })
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(match self {
            Raw::Lite(conn) => lite_query(sql, args)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
            Raw::Pg(conn) => pg_query(sql, args)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
        })
    }

    /// Like `execute`, but planned afresh for these very parameters. A plan PostgreSQL caches
    /// for a prepared statement is generic: made once, for arrays of unknown length and the
    /// table as it was then (maybe empty), and kept while the table grows.
    async fn execute_planned(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(match self {
            Raw::Lite(conn) => lite_query(sql, args)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
            Raw::Pg(conn) => pg_query(sql, args)
                .persistent(false)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
        })
    }

    /// The first column of the first row, as text.
    async fn text(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<String>> {
        Ok(match self {
            Raw::Lite(conn) => lite_query(sql, args)
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?,
            Raw::Pg(conn) => pg_query(sql, args)
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?,
        })
    }
}

fn lite_query<'q>(
    sql: &'q str,
    args: &'q [Arg<'q>],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let mut query = sqlx::query(sql);
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(*text),
            Arg::Int(int) => query.bind(*int),
            Arg::Texts(_) | Arg::Ints(_) | Arg::BigInts(_) => {
                unreachable!("SQLite takes batches as one JSON text")
            }
        };
    }
    query
}

fn pg_query<'q>(
    sql: &'q str,
    args: &'q [Arg<'q>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut query = sqlx::query(sql);
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(*text),
            Arg::Int(int) => query.bind(*int),
            Arg::Texts(texts) => query.bind(texts.as_slice()),
            Arg::Ints(ints) => query.bind(ints.as_slice()),
            Arg::BigInts(ints) => query.bind(ints.as_slice()),
        };
    }
    query
}

// ---------------------------------------------------------------------------------------------
// The ceiling: one INSERT … ON CONFLICT DO UPDATE per entity per batch, written directly.

/// The columns a write sets besides identity and timestamps: references, then own values.
fn written(spec: &Spec) -> Vec<(&'static str, Ty)> {
    let mut columns = Vec::new();
    if let Some((_, fk, _)) = spec.parent {
        columns.push((fk, Ty::Uuid));
    }
    if spec.cell {
        columns.push(("cell_id", Ty::Uuid));
    }
    columns.extend(spec.columns.iter().copied());
    columns
}

fn upsert_tail(engine: Engine, spec: &Spec) -> String {
    let columns = written(spec);
    let set: Vec<String> = columns
        .iter()
        .map(|(c, _)| format!("{c} = excluded.{c}"))
        .collect();
    let changed = match engine {
        Engine::Sqlite => columns
            .iter()
            .map(|(c, _)| format!("{}.{c} IS NOT excluded.{c}", spec.table))
            .collect::<Vec<_>>()
            .join(" OR "),
        Engine::Postgres => format!(
            "({}) IS DISTINCT FROM ({})",
            columns
                .iter()
                .map(|(c, _)| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            columns
                .iter()
                .map(|(c, _)| format!("excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    };
    format!(
        "ON CONFLICT (tenant_id, mode, external_source, external_id) DO UPDATE SET {}, \
         updated_at = excluded.updated_at, synced_at = excluded.synced_at, \
         sync_fingerprint = excluded.sync_fingerprint WHERE {changed}",
        set.join(", ")
    )
}

fn insert_columns(spec: &Spec) -> String {
    let columns: Vec<&str> = written(spec).iter().map(|(c, _)| *c).collect();
    format!(
        "id, tenant_id, mode, external_source, external_id, {}, created_at, updated_at, \
         synced_at, sync_fingerprint",
        columns.join(", ")
    )
}

/// SQLite: the batch is one JSON array of `[id, source, external_id, parent?, cell?, values…]`,
/// each row parsed once into JSONB (as the server does: faster than reading every field from
/// `json_each`'s text). `CROSS JOIN` keeps the planner from scanning a table per record.
fn sqlite_ceiling_sql(spec: &Spec) -> String {
    let field = |i: usize| format!("r.value ->> {i}");
    let mut next = 3;
    let mut selected = vec![field(0), "?1".into(), "?2".into(), field(1), field(2)];
    let mut joins = String::new();
    if let Some((parent, _, _)) = spec.parent {
        joins += &format!(
            " CROSS JOIN {parent} AS p ON p.tenant_id = ?1 AND p.mode = ?2 \
             AND p.external_source = r.value ->> 1 AND p.external_id = {}",
            field(next)
        );
        selected.push("p.id".into());
        next += 1;
    }
    if spec.cell {
        joins += &format!(
            " CROSS JOIN cells AS c ON c.tenant_id = ?1 AND c.mode = ?2 \
             AND c.name = {} AND c.active = 1",
            field(next)
        );
        selected.push("c.id".into());
        next += 1;
    }
    selected.extend((0..spec.columns.len()).map(|k| field(next + k)));
    selected.extend(std::iter::repeat_n("?3".to_owned(), 3));
    selected.push(field(next + spec.columns.len()));
    format!(
        "INSERT INTO {table} ({columns}) \
         WITH r AS MATERIALIZED (SELECT key, jsonb(value) AS value FROM json_each(?4)) \
         SELECT {selected} FROM r{joins} WHERE true {tail}",
        table = spec.table,
        columns = insert_columns(spec),
        selected = selected.join(", "),
        tail = upsert_tail(Engine::Sqlite, spec),
    )
}

/// PostgreSQL: the batch is one typed array per column, unnested side by side. References
/// resolve through `LATERAL … LIMIT 1`: one identity-index probe per batch row. Statements with
/// references are planned for each batch (`Raw::execute_planned`), so the plan knows the batch
/// size and the table's current size.
fn postgres_ceiling_sql(spec: &Spec) -> String {
    let mut arrays = vec!["$4::uuid[]", "$5::text[]", "$6::text[]"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    let mut names: Vec<String> = vec!["id".into(), "src".into(), "ext".into()];
    let mut selected: Vec<String> = vec![
        "r.id".into(),
        "$1::uuid".into(),
        "$2::text".into(),
        "r.src".into(),
        "r.ext".into(),
    ];
    let mut joins = String::new();
    if let Some((parent, _, _)) = spec.parent {
        arrays.push(format!("${}::text[]", arrays.len() + 4));
        names.push("parent".into());
        joins += &format!(
            " CROSS JOIN LATERAL (SELECT p.id FROM {parent} AS p \
             WHERE p.tenant_id = $1::uuid AND p.mode = $2::text \
             AND p.external_source = r.src AND p.external_id = r.parent LIMIT 1) AS p"
        );
        selected.push("p.id".into());
    }
    if spec.cell {
        arrays.push(format!("${}::text[]", arrays.len() + 4));
        names.push("cell".into());
        joins += " CROSS JOIN LATERAL (SELECT c.id FROM cells AS c \
                  WHERE c.tenant_id = $1::uuid AND c.mode = $2::text \
                  AND c.name = r.cell AND c.active LIMIT 1) AS c";
        selected.push("c.id".into());
    }
    for (k, (_, ty)) in spec.columns.iter().enumerate() {
        arrays.push(format!("${}::{}[]", arrays.len() + 4, ty.pg()));
        names.push(format!("v{k}"));
        selected.push(format!("r.v{k}"));
    }
    arrays.push(format!("${}::{}[]", arrays.len() + 4, Ty::BigInt.pg()));
    names.push("fingerprint".into());
    selected.extend(std::iter::repeat_n("$3::timestamptz".to_owned(), 3));
    selected.push("r.fingerprint".into());
    format!(
        "INSERT INTO {table} AS t ({columns}) SELECT {selected} \
         FROM unnest({arrays}) AS r({names}){joins} {tail}",
        table = spec.table,
        columns = insert_columns(spec),
        selected = selected.join(", "),
        arrays = arrays.join(", "),
        names = names.join(", "),
        tail = upsert_tail(Engine::Postgres, spec),
    )
}

fn sqlite_batch(rows: &[Row]) -> String {
    let encoded: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut fields = vec![
                Value::from(uuid::Uuid::now_v7().hyphenated().to_string()),
                Value::from(SOURCE),
                Value::from(row.ext.as_str()),
            ];
            fields.extend(row.parent_ext.iter().map(|p| Value::from(p.as_str())));
            fields.extend(row.cell.iter().map(|c| Value::from(c.as_str())));
            fields.extend(row.values.iter().map(|v| match v {
                V::T(text) => Value::from(text.as_str()),
                V::I(int) => Value::from(*int),
            }));
            fields.push(Value::from(row.fingerprint()));
            Value::Array(fields)
        })
        .collect();
    serde_json::to_string(&encoded).expect("JSON serializes")
}

/// Writes `rows` with the ceiling statement and answers how many rows it inserted or changed.
async fn ceiling_write(
    raw: &mut Raw,
    engine: Engine,
    spec: &Spec,
    sql: &str,
    tenant: &str,
    rows: &[Row],
) -> Result<u64> {
    let now = store::timestamp();
    match engine {
        Engine::Sqlite => {
            let batch = sqlite_batch(rows);
            raw.execute(
                sql,
                &[
                    Arg::Text(tenant),
                    Arg::Text("live"),
                    Arg::Text(&now),
                    Arg::Text(&batch),
                ],
            )
            .await
        }
        Engine::Postgres => {
            let ids: Vec<String> = rows
                .iter()
                .map(|_| uuid::Uuid::now_v7().hyphenated().to_string())
                .collect();
            let texts = |f: &dyn Fn(&Row) -> Option<&str>| -> Arg<'_> {
                Arg::Texts(rows.iter().map(f).collect())
            };
            let mut args = vec![
                Arg::Text(tenant),
                Arg::Text("live"),
                Arg::Text(&now),
                Arg::Texts(ids.iter().map(|i| Some(i.as_str())).collect()),
                texts(&|_| Some(SOURCE)),
                texts(&|r| Some(r.ext.as_str())),
            ];
            if spec.parent.is_some() {
                args.push(texts(&|r| r.parent_ext.as_deref()));
            }
            if spec.cell {
                args.push(texts(&|r| r.cell.as_deref()));
            }
            for (k, (_, ty)) in spec.columns.iter().enumerate() {
                args.push(match ty {
                    Ty::Int => Arg::Ints(
                        rows.iter()
                            .map(|r| match &r.values[k] {
                                V::I(int) => Some(*int as i32),
                                V::T(_) => None,
                            })
                            .collect(),
                    ),
                    _ => Arg::Texts(
                        rows.iter()
                            .map(|r| match &r.values[k] {
                                V::T(text) => Some(text.as_str()),
                                V::I(_) => None,
                            })
                            .collect(),
                    ),
                });
            }
            args.push(Arg::BigInts(rows.iter().map(Row::fingerprint).collect()));
            if spec.parent.is_some() {
                raw.execute_planned(sql, &args).await
            } else {
                raw.execute(sql, &args).await
            }
        }
    }
}

struct Ceiling {
    jobs: String,
    parts: String,
    operations: String,
}

impl Ceiling {
    fn new(engine: Engine) -> Ceiling {
        let sql = match engine {
            Engine::Sqlite => sqlite_ceiling_sql,
            Engine::Postgres => postgres_ceiling_sql,
        };
        Ceiling {
            jobs: sql(&JOBS),
            parts: sql(&PARTS),
            operations: sql(&OPERATIONS),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The baseline: per record, look the row up by its external id, then insert or update it, each
// statement in autocommit.

struct Naive {
    find: String,
    insert: String,
    update: String,
}

impl Naive {
    fn new(engine: Engine, spec: &Spec) -> Naive {
        let p = |n: usize, ty: Ty| engine.param(n, ty);
        let id = match engine {
            Engine::Sqlite => "id",
            Engine::Postgres => "id::text",
        };
        let find = format!(
            "SELECT {id} FROM {} WHERE tenant_id = {} AND mode = {} \
             AND external_source = {} AND external_id = {}",
            spec.table,
            p(1, Ty::Uuid),
            p(2, Ty::Text),
            p(3, Ty::Text),
            p(4, Ty::Text),
        );
        let columns = written(spec);
        let mut values = vec![
            p(1, Ty::Uuid),
            p(2, Ty::Uuid),
            p(3, Ty::Text),
            p(4, Ty::Text),
            p(5, Ty::Text),
        ];
        values.extend(columns.iter().enumerate().map(|(k, (_, ty))| p(6 + k, *ty)));
        let now = p(6 + columns.len(), Ty::Time);
        values.extend([now.clone(), now.clone(), now]);
        values.push(p(7 + columns.len(), Ty::BigInt));
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            spec.table,
            insert_columns(spec),
            values.join(", ")
        );
        let set: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(k, (c, ty))| format!("{c} = {}", p(2 + k, *ty)))
            .collect();
        let now = p(2 + columns.len(), Ty::Time);
        let update = format!(
            "UPDATE {} SET {}, updated_at = {now}, synced_at = {now}, sync_fingerprint = {} \
             WHERE id = {}",
            spec.table,
            set.join(", "),
            p(3 + columns.len(), Ty::BigInt),
            p(1, Ty::Uuid),
        );
        Naive {
            find,
            insert,
            update,
        }
    }
}

struct Baseline {
    jobs: Naive,
    parts: Naive,
    operations: Naive,
    cell: String,
}

impl Baseline {
    fn new(engine: Engine) -> Baseline {
        let (id, active) = match engine {
            Engine::Sqlite => ("id", "active = 1"),
            Engine::Postgres => ("id::text", "active"),
        };
        Baseline {
            jobs: Naive::new(engine, &JOBS),
            parts: Naive::new(engine, &PARTS),
            operations: Naive::new(engine, &OPERATIONS),
            cell: format!(
                "SELECT {id} FROM cells WHERE tenant_id = {} AND mode = {} AND name = {} AND {active}",
                engine.param(1, Ty::Uuid),
                engine.param(2, Ty::Text),
                engine.param(3, Ty::Text),
            ),
        }
    }
}

fn value_arg(value: &V) -> Arg<'_> {
    match value {
        V::T(text) => Arg::Text(text),
        V::I(int) => Arg::Int(*int),
    }
}

/// One record the naive way; answers its id and whether it was created.
async fn naive_upsert(
    raw: &mut Raw,
    sql: &Naive,
    tenant: &str,
    row: &Row,
    refs: &[&str],
) -> Result<(String, bool)> {
    let now = store::timestamp();
    let found = raw
        .text(
            &sql.find,
            &[
                Arg::Text(tenant),
                Arg::Text("live"),
                Arg::Text(SOURCE),
                Arg::Text(&row.ext),
            ],
        )
        .await?;
    let mut rest: Vec<Arg> = refs.iter().map(|r| Arg::Text(r)).collect();
    rest.extend(row.values.iter().map(value_arg));
    rest.push(Arg::Text(&now));
    rest.push(Arg::Int(row.fingerprint()));
    match found {
        Some(id) => {
            let mut args = vec![Arg::Text(&id)];
            args.append(&mut rest);
            raw.execute(&sql.update, &args).await?;
            Ok((id, false))
        }
        None => {
            let id = uuid::Uuid::now_v7().hyphenated().to_string();
            let mut args = vec![
                Arg::Text(&id),
                Arg::Text(tenant),
                Arg::Text("live"),
                Arg::Text(SOURCE),
                Arg::Text(&row.ext),
            ];
            args.append(&mut rest);
            raw.execute(&sql.insert, &args).await?;
            Ok((id, true))
        }
    }
}

async fn naive_cell(raw: &mut Raw, sql: &str, tenant: &str, name: &str) -> Result<String> {
    raw.text(
        sql,
        &[Arg::Text(tenant), Arg::Text("live"), Arg::Text(name)],
    )
    .await?
    .with_context(|| format!("no active cell {name:?}"))
}

/// Creations among the records the baseline wrote.
async fn baseline_flat(raw: &mut Raw, sql: &Baseline, tenant: &str, rows: &[Row]) -> Result<u64> {
    let mut created = 0;
    for row in rows {
        created += u64::from(naive_upsert(raw, &sql.jobs, tenant, row, &[]).await?.1);
    }
    Ok(created)
}

async fn baseline_nested(
    raw: &mut Raw,
    sql: &Baseline,
    tenant: &str,
    jobs: &[Nested],
) -> Result<u64> {
    let mut created = 0;
    for nested in jobs {
        let (job_id, new) = naive_upsert(raw, &sql.jobs, tenant, &nested.job, &[]).await?;
        created += u64::from(new);
        for (part, operations) in &nested.parts {
            let (part_id, new) = naive_upsert(raw, &sql.parts, tenant, part, &[&job_id]).await?;
            created += u64::from(new);
            for operation in operations {
                let name = operation.cell.as_deref().expect("operations name a cell");
                let cell_id = naive_cell(raw, &sql.cell, tenant, name).await?;
                let refs = [part_id.as_str(), cell_id.as_str()];
                created += u64::from(
                    naive_upsert(raw, &sql.operations, tenant, operation, &refs)
                        .await?
                        .1,
                );
            }
        }
    }
    Ok(created)
}

// ---------------------------------------------------------------------------------------------
// Databases and servers

struct Db {
    url: String,
    /// PostgreSQL databases are dropped when the engine's run ends.
    pg_name: Option<String>,
}

async fn fresh_db(engine: Engine, dir: &std::path::Path, label: &str) -> Result<Db> {
    match engine {
        Engine::Sqlite => Ok(Db {
            url: format!("sqlite://{}", dir.join(format!("{label}.db")).display()),
            pg_name: None,
        }),
        Engine::Postgres => {
            let admin = postgres_admin_url().context("ERYXON_TEST_POSTGRES_URL")?;
            let name = format!("eryxon_bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let (server, _) = admin.rsplit_once('/').context("a database URL")?;
            Ok(Db {
                url: format!("{server}/{name}"),
                pg_name: Some(name),
            })
        }
    }
}

async fn drop_db(db: &Db) -> Result<()> {
    match &db.pg_name {
        None => {
            if let Some(path) = db.url.strip_prefix("sqlite://") {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
        }
        Some(name) => {
            let admin = postgres_admin_url().context("ERYXON_TEST_POSTGRES_URL")?;
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
    }
    Ok(())
}

/// A live key for the bench tenant, and the tenant's id as the tables store it.
async fn key_and_tenant(
    store: &dyn Store,
    raw: &mut Raw,
    engine: Engine,
) -> Result<(String, String)> {
    let key = IssuedKey::generate(Mode::Live);
    let slug = TenantSlug::parse(TENANT).map_err(anyhow::Error::msg)?;
    store.create_api_key(&slug, Some("bench"), &key).await?;
    let sql = match engine {
        Engine::Sqlite => "SELECT id FROM tenants WHERE slug = ?1",
        Engine::Postgres => "SELECT id::text FROM tenants WHERE slug = $1",
    };
    let tenant = raw
        .text(sql, &[Arg::Text(TENANT)])
        .await?
        .context("the tenant")?;
    Ok((key.secret, tenant))
}

/// The server in this process, on port 0, as the integration tests run it.
struct Server {
    base: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(store: Arc<dyn Store>) -> Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let config = ServerConfig {
            listen: address,
            rate_limit_per_minute: RATE_LIMIT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout_secs: 600,
            cors_origins: Vec::new(),
            event_retention_days: eryxon::config::DEFAULT_EVENT_RETENTION_DAYS,
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            eryxon::http::serve(listener, store, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Server {
            base: format!("http://{address}"),
            shutdown: Some(shutdown),
            task,
        })
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.await??;
        Ok(())
    }
}

/// `eryxon serve` as a child process, so its memory is its own.
struct ChildServer {
    base: String,
    child: tokio::process::Child,
}

impl ChildServer {
    async fn spawn(url: &str) -> Result<ChildServer> {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eryxon"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", url])
            .args(["--rate-limit-per-minute", &RATE_LIMIT.to_string()])
            .args(["--request-timeout-secs", "600"])
            .env("ERYXON_LOG", "info")
            .env_remove("ERYXON_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting eryxon serve")?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.split("address=").nth(1) {
                    return Ok(rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned());
                }
            }
            bail!("eryxon serve exited before listening")
        })
        .await
        .context("eryxon serve listens within 60 s")??;
        // A full pipe would block the server's logging.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ChildServer {
            base: format!("http://{address}"),
            child,
        })
    }

    /// Peak resident memory (VmHWM) in kB.
    fn peak_rss_kb(&self) -> Result<u64> {
        let pid = self.child.id().context("the server is running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmHWM in /proc/PID/status")
    }

    /// CPU seconds the server's threads used so far, by thread name: where its time goes.
    fn cpu_by_thread(&self) -> Result<Vec<(String, f64)>> {
        // USER_HZ is 100 on every Linux this runs on.
        const TICKS_PER_S: f64 = 100.0;
        let pid = self.child.id().context("the server is running")?;
        let mut by_name: Vec<(String, f64)> = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let stat = std::fs::read_to_string(task?.path().join("stat"))?;
            let (head, rest) = stat.rsplit_once(')').context("a stat line")?;
            let name = head.split_once('(').map_or("?", |(_, n)| n).to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
            match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += ticks / TICKS_PER_S,
                None => by_name.push((name, ticks / TICKS_PER_S)),
            }
        }
        by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(by_name)
    }

    async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Clone)]
struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

struct Answer {
    took: Duration,
    status: u16,
    body: Vec<u8>,
}

impl Api {
    fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.to_owned(),
            key: key.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Request> {
        Ok(self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .build()?)
    }

    /// Sends a ready request; the time runs until the whole answer is read.
    async fn send(&self, request: reqwest::Request) -> Result<Answer> {
        let start = Instant::now();
        let response = self.client.execute(request).await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let took = start.elapsed();
        Ok(Answer {
            took,
            status,
            body: bytes.to_vec(),
        })
    }

    async fn bulk(&self, entity: &str, body: Vec<u8>) -> Result<Answer> {
        let request = self.request(
            reqwest::Method::POST,
            &format!("/api-{entity}/bulk-sync"),
            body,
        )?;
        self.send(request).await
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Counts {
    created: u64,
    updated: u64,
    unchanged: u64,
}

fn counts(answer: &Answer) -> Result<Counts> {
    let text = || String::from_utf8_lossy(&answer.body[..answer.body.len().min(500)]).into_owned();
    ensure!(
        answer.status == 200,
        "bulk answered {}: {}",
        answer.status,
        text()
    );
    let body: Value = serde_json::from_slice(&answer.body)?;
    let data = &body["data"];
    let count = |name: &str| data[name].as_u64().unwrap_or(u64::MAX);
    ensure!(count("errors") == 0, "bulk had errors: {}", text());
    Ok(Counts {
        created: count("created"),
        updated: count("updated"),
        unchanged: count("unchanged"),
    })
}

fn expect(answer: &Answer, created: u64, updated: u64, unchanged: u64) -> Result<()> {
    let got = counts(answer)?;
    let want = Counts {
        created,
        updated,
        unchanged,
    };
    ensure!(
        got == want,
        "expected {want:?}, the server answered {got:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Each repetition writes records of its own, so every insert is a real insert.

fn reps_of(knobs: &Knobs, reps: usize) -> impl Iterator<Item = (usize, bool)> + use<> {
    let warmup = knobs.warmup;
    (0..warmup + reps).map(move |rep| (rep, rep >= warmup))
}

type Three = [Vec<Duration>; 3];

/// Fresh inserts, all-changed updates, unchanged re-sends of 1000 flat jobs over HTTP: one
/// repetition, under keys starting with `prefix`.
async fn http_flat_rep(api: &Api, prefix: &str) -> Result<[Duration; 3]> {
    let changed = flat_body(&JOBS, &flat_jobs(prefix, 1));
    let insert = api
        .bulk("jobs", flat_body(&JOBS, &flat_jobs(prefix, 0)))
        .await?;
    expect(&insert, 1000, 0, 0)?;
    let update = api.bulk("jobs", changed.clone()).await?;
    expect(&update, 0, 1000, 0)?;
    let resend = api.bulk("jobs", changed).await?;
    expect(&resend, 0, 1000, 1000)?;
    Ok([insert.took, update.took, resend.took])
}

fn push_each<const N: usize>(slots: &mut [Vec<Duration>; N], took: [Duration; N]) {
    for (slot, took) in slots.iter_mut().zip(took) {
        slot.push(took);
    }
}

/// The same rows written by the ceiling statement: fresh, changed, then unchanged.
async fn ceiling_flat_rep(
    raw: &mut Raw,
    engine: Engine,
    sql: &Ceiling,
    tenant: &str,
    prefix: &str,
) -> Result<[Duration; 3]> {
    let (fresh, changed) = (flat_jobs(prefix, 0), flat_jobs(prefix, 1));
    let mut took = [Duration::ZERO; 3];
    for (slot, (rows, writes)) in
        took.iter_mut()
            .zip([(&fresh, 1000), (&changed, 1000), (&changed, 0)])
    {
        let start = Instant::now();
        let written = ceiling_write(raw, engine, &JOBS, &sql.jobs, tenant, rows).await?;
        *slot = start.elapsed();
        ensure!(
            written == writes,
            "ceiling wrote {written} rows, not {writes}"
        );
    }
    Ok(took)
}

type Pair<const N: usize> = ([Vec<Duration>; N], [Vec<Duration>; N]);

/// Two sides of a comparison, measured repetition by repetition in turn, so that a slow spell of
/// the shared machine weighs on both alike. Each side is given the repetition's number.
async fn alternating<const N: usize>(
    knobs: &Knobs,
    mut first: impl AsyncFnMut(usize) -> Result<[Duration; N]>,
    mut second: impl AsyncFnMut(usize) -> Result<[Duration; N]>,
) -> Result<Pair<N>> {
    let mut out: Pair<N> = (
        std::array::from_fn(|_| Vec::new()),
        std::array::from_fn(|_| Vec::new()),
    );
    for (rep, measured) in reps_of(knobs, knobs.reps) {
        let one = first(rep).await?;
        let other = second(rep).await?;
        if measured {
            push_each(&mut out.0, one);
            push_each(&mut out.1, other);
        }
    }
    Ok(out)
}

/// The flat figures over HTTP and at the ceiling, alternating.
async fn flat_and_ceiling(
    api: &Api,
    raw: &mut Raw,
    engine: Engine,
    tenant: &str,
    knobs: &Knobs,
) -> Result<Pair<3>> {
    let sql = Ceiling::new(engine);
    alternating(
        knobs,
        async |rep| http_flat_rep(api, &format!("F{rep}")).await,
        async |rep| ceiling_flat_rep(raw, engine, &sql, tenant, &format!("C{rep}")).await,
    )
    .await
}

/// 1000 nested jobs over HTTP, inserted then changed: one repetition.
async fn http_nested_rep(api: &Api, prefix: &str) -> Result<[Duration; 2]> {
    let changed = nested_body(&nested_jobs(prefix, 1));
    let insert = api
        .bulk("jobs", nested_body(&nested_jobs(prefix, 0)))
        .await?;
    expect(&insert, 1000, 0, 0)?;
    let update = api.bulk("jobs", changed).await?;
    expect(&update, 0, 1000, 0)?;
    Ok([insert.took, update.took])
}

/// The same nested rows by the ceiling statements, one transaction per call.
async fn ceiling_nested_rep(
    raw: &mut Raw,
    engine: Engine,
    sql: &Ceiling,
    tenant: &str,
    prefix: &str,
) -> Result<[Duration; 2]> {
    let mut took = [Duration::ZERO; 2];
    for (slot, rev) in took.iter_mut().zip([0, 1]) {
        let (jobs, parts, operations) = levels(&nested_jobs(prefix, rev));
        let start = Instant::now();
        raw.execute("BEGIN", &[]).await?;
        let mut written = 0;
        for (spec, sql, rows) in [
            (&JOBS, &sql.jobs, &jobs),
            (&PARTS, &sql.parts, &parts),
            (&OPERATIONS, &sql.operations, &operations),
        ] {
            written += ceiling_write(raw, engine, spec, sql, tenant, rows).await?;
        }
        raw.execute("COMMIT", &[]).await?;
        *slot = start.elapsed();
        ensure!(
            written == 9000,
            "ceiling wrote {written} nested rows, not 9000"
        );
    }
    Ok(took)
}

/// The nested figures over HTTP and at the ceiling, alternating like the flat ones.
async fn nested_and_ceiling(
    api: &Api,
    raw: &mut Raw,
    engine: Engine,
    tenant: &str,
    knobs: &Knobs,
) -> Result<Pair<2>> {
    let sql = Ceiling::new(engine);
    alternating(
        knobs,
        async |rep| http_nested_rep(api, &format!("N{rep}")).await,
        async |rep| ceiling_nested_rep(raw, engine, &sql, tenant, &format!("NC{rep}")).await,
    )
    .await
}

async fn baseline_flat_runs(
    raw: &mut Raw,
    engine: Engine,
    tenant: &str,
    knobs: &Knobs,
) -> Result<Three> {
    let sql = Baseline::new(engine);
    let mut out = Three::default();
    for (rep, measured) in reps_of(knobs, knobs.baseline_reps) {
        let prefix = format!("B{rep}");
        let (fresh, changed) = (flat_jobs(&prefix, 0), flat_jobs(&prefix, 1));
        for (slot, (rows, creates)) in
            out.iter_mut()
                .zip([(&fresh, 1000), (&changed, 0), (&changed, 0)])
        {
            let start = Instant::now();
            let created = baseline_flat(raw, &sql, tenant, rows).await?;
            let took = start.elapsed();
            ensure!(
                created == creates,
                "baseline created {created}, not {creates}"
            );
            if measured {
                slot.push(took);
            }
        }
    }
    Ok(out)
}

async fn baseline_nested_runs(
    raw: &mut Raw,
    engine: Engine,
    tenant: &str,
    knobs: &Knobs,
) -> Result<[Vec<Duration>; 2]> {
    let sql = Baseline::new(engine);
    let mut out: [Vec<Duration>; 2] = Default::default();
    for (rep, measured) in reps_of(knobs, knobs.baseline_reps) {
        let prefix = format!("NB{rep}");
        for (slot, (rev, creates)) in out.iter_mut().zip([(0, 9000), (1, 0)]) {
            let jobs = nested_jobs(&prefix, rev);
            let start = Instant::now();
            let created = baseline_nested(raw, &sql, tenant, &jobs).await?;
            let took = start.elapsed();
            ensure!(
                created == creates,
                "baseline created {created}, not {creates}"
            );
            if measured {
                slot.push(took);
            }
        }
    }
    Ok(out)
}

/// `n` single-job PUTs (each a new job) from `concurrency` clients: total time and latencies.
async fn http_puts(
    api: &Api,
    prefix: &str,
    concurrency: usize,
    n: usize,
) -> Result<(Duration, Vec<Duration>)> {
    let requests = (0..n)
        .map(|i| {
            let body = Value::Object(record_json(&JOBS, &job(prefix, i, 0), true));
            api.request(
                reqwest::Method::PUT,
                "/api-jobs/sync",
                serde_json::to_vec(&body)?,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let queue = Arc::new(std::sync::Mutex::new(requests.into_iter()));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (api, queue) = (api.clone(), queue.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some(request) = next else { break };
                    let answer = api.send(request).await?;
                    ensure!(answer.status == 201, "PUT answered {}", answer.status);
                    latencies.push(answer.took);
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    Ok((start.elapsed(), latencies))
}

/// One bulk body and how many records it carries.
type Call = (Vec<u8>, u64);

/// The initial load: each level's bulk bodies, sent in dependency order.
struct Load {
    levels: Vec<(&'static str, Vec<Call>)>,
    records: usize,
}

const LOAD_CELLS: usize = 100;
const LOAD_RESOURCES: usize = 900;
const LOAD_JOBS: usize = 9000;

/// 100 cells, 900 resources, 9000 jobs, 27 000 parts (3 per job) and 63 000 operations (3 on a
/// job's first part, 2 on the others): 100 000 records.
fn load_plan() -> Load {
    let cells: Vec<Row> = (0..LOAD_CELLS).map(cell).collect();
    let resources: Vec<Row> = (0..LOAD_RESOURCES).map(resource).collect();
    let mut jobs = Vec::new();
    let mut parts = Vec::new();
    let mut operations = Vec::new();
    for i in 0..LOAD_JOBS {
        let job = job("L", i, 0);
        for j in 0..3 {
            let part = part(&job.ext, i, j, 0);
            let steps = if j == 0 { 3 } else { 2 };
            operations.extend((0..steps).map(|k| operation(&part.ext, i, k, 0, LOAD_CELLS)));
            parts.push(part);
        }
        jobs.push(job);
    }
    let level = |spec: &Spec, rows: &[Row]| -> Vec<Call> {
        rows.chunks(BATCH)
            .map(|chunk| (flat_body(spec, chunk), chunk.len() as u64))
            .collect()
    };
    let records = cells.len() + resources.len() + jobs.len() + parts.len() + operations.len();
    Load {
        levels: vec![
            ("cells", level(&CELLS, &cells)),
            ("resources", level(&RESOURCES, &resources)),
            ("jobs", level(&JOBS, &jobs)),
            ("parts", level(&PARTS, &parts)),
            ("operations", level(&OPERATIONS, &operations)),
        ],
        records,
    }
}

/// Two clients share each level's calls; a level starts when the one before it is written.
async fn run_load(clients: [&Api; 2], load: &Load) -> Result<Duration> {
    let mut prepared = Vec::new();
    for (entity, bodies) in &load.levels {
        let requests = bodies
            .iter()
            .map(|(body, n)| {
                let request = clients[0].request(
                    reqwest::Method::POST,
                    &format!("/api-{entity}/bulk-sync"),
                    body.clone(),
                )?;
                Ok((request, *n))
            })
            .collect::<Result<Vec<_>>>()?;
        prepared.push(requests);
    }
    let mut answers = Vec::new();
    let start = Instant::now();
    for requests in prepared {
        let queue = Arc::new(std::sync::Mutex::new(requests.into_iter()));
        let workers: Vec<_> = clients
            .iter()
            .map(|api| {
                let (api, queue) = ((*api).clone(), queue.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                        let Some((request, n)) = next else { break };
                        answers.push((api.send(request).await?, n));
                    }
                    Ok::<_, anyhow::Error>(answers)
                })
            })
            .collect();
        for worker in workers {
            answers.extend(worker.await??);
        }
    }
    let took = start.elapsed();
    for (answer, n) in &answers {
        expect(answer, *n, 0, 0)?;
    }
    Ok(took)
}

/// One initial load into a fresh database, served by an `eryxon serve` child process: the
/// load's time, the server's peak RSS in kB, and its threads' CPU time.
async fn load_once(
    engine: Engine,
    dir: &std::path::Path,
    rep: usize,
    load: &Load,
) -> Result<(Duration, u64, String)> {
    let db = fresh_db(engine, dir, &format!("load{rep}")).await?;
    let key = {
        let store = store::open(&db.url).await?;
        let mut raw = Raw::open(engine, &db.url).await?;
        key_and_tenant(&*store, &mut raw, engine).await?.0
    };
    let server = ChildServer::spawn(&db.url).await?;
    let (a, b) = (Api::new(&server.base, &key), Api::new(&server.base, &key));
    let took = run_load([&a, &b], load).await;
    let peak = server.peak_rss_kb();
    let cpu = server.cpu_by_thread();
    server.stop().await?;
    drop_db(&db).await?;
    let cpu = cpu?
        .iter()
        .map(|(name, s)| format!("{name} {s:.2} s"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((took?, peak?, cpu))
}

/// Fills the jobs table with `rows` jobs of the bench tenant, in the live mode and the bench's
/// source, so the identity index is the one a large tenant has.
async fn fill(raw: &mut Raw, engine: Engine, tenant: &str, rows: u64) -> Result<u64> {
    let now = store::timestamp();
    let sql = match engine {
        Engine::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3) \
             INSERT INTO jobs (id, tenant_id, mode, external_source, external_id, job_number, \
               customer, due_date, priority, status, metadata, created_at, updated_at) \
             SELECT printf('00000000-0000-7000-8000-%012x', i), ?1, 'live', 'SAP', \
               printf('BIG-%08d', i), 'JOB-BIG-' || i, 'Customer ' || (i % 97), \
               printf('2024-%02d-%02d', 1 + i % 12, 1 + i / 12 % 28), i % 10, 'completed', \
               json_object('line', i), ?2, ?2 FROM n"
        }
        Engine::Postgres => {
            "INSERT INTO jobs (id, tenant_id, mode, external_source, external_id, job_number, \
               customer, due_date, priority, status, metadata, created_at, updated_at) \
             SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, $1::uuid, \
               'live', 'SAP', 'BIG-' || lpad(i::text, 8, '0'), 'JOB-BIG-' || i, \
               'Customer ' || (i % 97), date '2024-01-01' + (i % 365)::int, (i % 10)::int, \
               'completed', jsonb_build_object('line', i), $2::timestamptz, $2::timestamptz \
             FROM generate_series(1, $3::bigint) AS i"
        }
    };
    let written = raw
        .execute(
            sql,
            &[Arg::Text(tenant), Arg::Text(&now), Arg::Int(rows as i64)],
        )
        .await?;
    if engine == Engine::Postgres {
        // What autovacuum and the checkpointer would have done long before a table grew this
        // large: otherwise the figures that follow pay for writing the fill out to disk.
        raw.execute("VACUUM ANALYZE jobs", &[]).await?;
        // CHECKPOINT needs a superuser (or `pg_checkpoint`); without one, the run goes on.
        if let Err(error) = raw.execute("CHECKPOINT", &[]).await {
            eprintln!("note: no CHECKPOINT after the fill ({error})");
        }
    }
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// Figures

struct Figure {
    engine: Engine,
    bench: String,
    records: usize,
    p50_ms: f64,
    records_per_s: f64,
    ratio_to_ceiling: Option<f64>,
    ratio_to_baseline: Option<f64>,
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A figure whose unit is one call (or one whole load) of `records` records.
fn per_call(engine: Engine, bench: &str, records: usize, samples: &[Duration]) -> Figure {
    let p50 = median(samples);
    Figure {
        engine,
        bench: bench.to_owned(),
        records,
        p50_ms: ms(p50),
        records_per_s: records as f64 / p50.as_secs_f64(),
        ratio_to_ceiling: None,
        ratio_to_baseline: None,
    }
}

struct Target {
    engine: Engine,
    what: String,
    measured: f64,
    limit: f64,
    /// Whether the limit is a floor (`≥`) rather than a ceiling (`≤`, `<`).
    at_least: bool,
    unit: &'static str,
}

impl Target {
    fn holds(&self) -> bool {
        if self.at_least {
            self.measured >= self.limit
        } else {
            self.measured <= self.limit
        }
    }
}

struct Report {
    figures: Vec<Figure>,
    targets: Vec<Target>,
}

impl Report {
    fn figure(&self, engine: Engine, bench: &str) -> Option<&Figure> {
        self.figures
            .iter()
            .find(|f| f.engine == engine && f.bench == bench)
    }

    fn link_ratios(&mut self) {
        let rate = |figures: &[Figure], engine: Engine, bench: String| {
            figures
                .iter()
                .find(|f| f.engine == engine && f.bench == bench)
                .map(|f| f.records_per_s)
        };
        let ratios: Vec<(Option<f64>, Option<f64>)> = self
            .figures
            .iter()
            .map(|f| {
                let rate =
                    |kind: &str| rate(&self.figures, f.engine, format!("{kind}/{}", f.bench));
                (
                    rate("ceiling").map(|c| f.records_per_s / c),
                    rate("baseline").map(|b| f.records_per_s / b),
                )
            })
            .collect();
        for (figure, (ceiling, baseline)) in self.figures.iter_mut().zip(ratios) {
            figure.ratio_to_ceiling = ceiling;
            figure.ratio_to_baseline = baseline;
        }
    }

    fn judge(&mut self, engine: Engine, load_s: Option<f64>, peak_mb: Option<f64>) {
        let mut targets = Vec::new();
        let mut add = |what: String, measured: Option<f64>, limit: f64, at_least: bool, unit| {
            if let Some(measured) = measured {
                targets.push(Target {
                    engine,
                    what,
                    measured,
                    limit,
                    at_least,
                    unit,
                });
            }
        };
        let baseline_floor = match engine {
            Engine::Sqlite => 5.0,
            Engine::Postgres => 20.0,
        };
        for variant in ["flat_insert", "flat_update", "flat_unchanged"] {
            let figure = self.figure(engine, variant);
            add(
                format!("{variant} records/s ≥ 0.6 × ceiling"),
                figure.and_then(|f| f.ratio_to_ceiling),
                0.6,
                true,
                "×",
            );
            add(
                format!("{variant} records/s ≥ {baseline_floor} × baseline"),
                figure.and_then(|f| f.ratio_to_baseline),
                baseline_floor,
                true,
                "×",
            );
        }
        let time = |bench: &str| self.figure(engine, bench).map(|f| f.p50_ms);
        add(
            "flat unchanged re-send time ≤ 0.6 × all-changed".into(),
            time("flat_unchanged")
                .zip(time("flat_update"))
                .map(|(u, c)| u / c),
            0.6,
            false,
            "×",
        );
        for variant in ["nested_insert", "nested_update"] {
            add(
                format!("{variant} (9000 records) ≥ 0.5 × ceiling"),
                self.figure(engine, variant)
                    .and_then(|f| f.ratio_to_ceiling),
                0.5,
                true,
                "×",
            );
        }
        for variant in ["flat_insert", "flat_update", "flat_unchanged"] {
            add(
                format!("{variant} time at the big table ≤ 1.3 × empty table"),
                time(&format!("big/{variant}"))
                    .zip(time(&format!("empty/{variant}")))
                    .map(|(big, empty)| big / empty),
                1.3,
                false,
                "×",
            );
        }
        let (load_limit, put_floor) = match engine {
            Engine::Sqlite => (2.0, 5000.0),
            Engine::Postgres => (4.0, 2000.0),
        };
        add("100k initial load".into(), load_s, load_limit, false, "s");
        add(
            "single PUT at concurrency 8".into(),
            self.figure(engine, "put_c8").map(|f| f.records_per_s),
            put_floor,
            true,
            "req/s",
        );
        add(
            "server peak RSS in the 100k load".into(),
            peak_mb,
            300.0,
            false,
            "MB",
        );
        self.targets.extend(targets);
    }

    fn print(&self, engine: Engine) {
        println!();
        println!(
            "{:<24} {:>8} {:>10} {:>12} {:>10} {:>10}",
            "bench", "records", "p50 ms", "records/s", "×ceiling", "×baseline"
        );
        let ratio = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.2}"));
        for f in self.figures.iter().filter(|f| f.engine == engine) {
            println!(
                "{:<24} {:>8} {:>10.2} {:>12.0} {:>10} {:>10}",
                f.bench,
                f.records,
                f.p50_ms,
                f.records_per_s,
                ratio(f.ratio_to_ceiling),
                ratio(f.ratio_to_baseline),
            );
        }
        println!();
        for t in self.targets.iter().filter(|t| t.engine == engine) {
            let sign = if t.at_least { "≥" } else { "≤" };
            println!(
                "{:<5} {:<52} {:>10.2} {} (target {sign} {} {})",
                if t.holds() { "HOLDS" } else { "MISS" },
                t.what,
                t.measured,
                t.unit,
                t.limit,
                t.unit,
            );
        }
    }

    fn print_json(&self) {
        let round = |x: f64, places: i32| {
            let scale = 10f64.powi(places);
            (x * scale).round() / scale
        };
        // Written field by field: the keys keep the documented order, which a map would sort.
        let line = |fields: &[(&str, Value)]| {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            println!("{{{}}}", body.join(","));
        };
        for f in &self.figures {
            line(&[
                ("bench", json!(f.bench)),
                ("engine", json!(f.engine.name())),
                ("records_per_s", json!(round(f.records_per_s, 1))),
                ("p50_ms", json!(round(f.p50_ms, 3))),
                (
                    "ratio_to_ceiling",
                    json!(f.ratio_to_ceiling.map(|r| round(r, 3))),
                ),
                (
                    "ratio_to_baseline",
                    json!(f.ratio_to_baseline.map(|r| round(r, 3))),
                ),
            ]);
        }
        for t in &self.targets {
            line(&[
                ("target", json!(t.what)),
                ("engine", json!(t.engine.name())),
                ("measured", json!(round(t.measured, 3))),
                ("limit", json!(t.limit)),
                ("unit", json!(t.unit)),
                ("holds", json!(t.holds())),
            ]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One engine

fn progress(engine: Engine, what: &str) {
    eprintln!("[{}] {what}", engine.name());
}

/// Other work on the machine skews every figure; the load average says how much there was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn run_engine(engine: Engine, knobs: &Knobs, report: &mut Report) -> Result<()> {
    let dir = tempfile::TempDir::new()?;
    let started = Instant::now();
    println!("load average at start: {}", loadavg());
    let mut figures = Vec::new();
    let figure = |bench: &str, records: usize, samples: &[Duration]| {
        per_call(engine, bench, records, samples)
    };

    // Everything but the ceiling, the big table and the initial load shares one database,
    // written in this order, so the flat HTTP figures meet a table of at most a few thousand rows.
    let db = fresh_db(engine, dir.path(), "main").await?;
    let store = store::open(&db.url).await?;
    let mut raw = Raw::open(engine, &db.url).await?;
    let version_sql = match engine {
        Engine::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
        Engine::Postgres => "SELECT version()",
    };
    if let Some(version) = raw.text(version_sql, &[]).await? {
        progress(engine, &version);
    }
    let (key, tenant) = key_and_tenant(&*store, &mut raw, engine).await?;
    let server = Server::start(store.clone()).await?;
    let api = Api::new(&server.base, &key);
    let cells: Vec<Row> = (0..MAIN_CELLS).map(cell).collect();
    expect(
        &api.bulk("cells", flat_body(&CELLS, &cells)).await?,
        MAIN_CELLS as u64,
        0,
        0,
    )?;
    // The ceiling writes a database of its own, with its own background checkpoints: two
    // connections writing one SQLite file in turn would each find the other's commits and
    // reload their page caches at every repetition, which neither does on its own.
    let ceiling_db = fresh_db(engine, dir.path(), "ceiling").await?;
    let ceiling_store = store::open(&ceiling_db.url).await?;
    let mut ceiling_raw = Raw::open(engine, &ceiling_db.url).await?;
    let (ceiling_key, ceiling_tenant) =
        key_and_tenant(&*ceiling_store, &mut ceiling_raw, engine).await?;
    // The nested ceiling finds its operations' cells by name, as the server does.
    let cell_server = Server::start(ceiling_store.clone()).await?;
    expect(
        &Api::new(&cell_server.base, &ceiling_key)
            .bulk("cells", flat_body(&CELLS, &cells))
            .await?,
        MAIN_CELLS as u64,
        0,
        0,
    )?;
    cell_server.stop().await?;

    if knobs.runs("flat") {
        progress(engine, "flat 1000 over HTTP and at the ceiling");
        let (http, ceiling) =
            flat_and_ceiling(&api, &mut ceiling_raw, engine, &ceiling_tenant, knobs).await?;
        let [insert, update, resend] = http;
        figures.push(figure("flat_insert", BATCH, &insert));
        figures.push(figure("flat_update", BATCH, &update));
        figures.push(figure("flat_unchanged", BATCH, &resend));
        let [insert, update, resend] = ceiling;
        figures.push(figure("ceiling/flat_insert", BATCH, &insert));
        figures.push(figure("ceiling/flat_update", BATCH, &update));
        figures.push(figure("ceiling/flat_unchanged", BATCH, &resend));

        progress(engine, "flat 1000 baseline");
        let [insert, update, resend] = baseline_flat_runs(&mut raw, engine, &tenant, knobs).await?;
        figures.push(figure("baseline/flat_insert", BATCH, &insert));
        figures.push(figure("baseline/flat_update", BATCH, &update));
        figures.push(figure("baseline/flat_unchanged", BATCH, &resend));
    }

    if knobs.runs("nested") {
        progress(engine, "nested 9000 over HTTP and at the ceiling");
        let (http, ceiling) =
            nested_and_ceiling(&api, &mut ceiling_raw, engine, &ceiling_tenant, knobs).await?;
        let [insert, update] = http;
        figures.push(figure("nested_insert", 9 * BATCH, &insert));
        figures.push(figure("nested_update", 9 * BATCH, &update));
        let [insert, update] = ceiling;
        figures.push(figure("ceiling/nested_insert", 9 * BATCH, &insert));
        figures.push(figure("ceiling/nested_update", 9 * BATCH, &update));

        progress(engine, "nested 9000 baseline");
        let [insert, update] = baseline_nested_runs(&mut raw, engine, &tenant, knobs).await?;
        figures.push(figure("baseline/nested_insert", 9 * BATCH, &insert));
        figures.push(figure("baseline/nested_update", 9 * BATCH, &update));
    }

    let concurrencies: &[usize] = if knobs.runs("put") { &[1, 8] } else { &[] };
    for &concurrency in concurrencies {
        progress(engine, &format!("single PUT, concurrency {concurrency}"));
        let mut rates = Vec::new();
        let mut latencies = Vec::new();
        for (rep, measured) in reps_of(knobs, knobs.reps) {
            let prefix = format!("P{concurrency}-{rep}");
            let (took, each) = http_puts(&api, &prefix, concurrency, knobs.puts).await?;
            if measured {
                rates.push(knobs.puts as f64 / took.as_secs_f64());
                latencies.extend(each);
            }
        }
        rates.sort_by(f64::total_cmp);
        figures.push(Figure {
            engine,
            bench: format!("put_c{concurrency}"),
            records: 1,
            p50_ms: ms(median(&latencies)),
            records_per_s: rates[rates.len() / 2],
            ratio_to_ceiling: None,
            ratio_to_baseline: None,
        });
    }
    drop(api);
    server.stop().await?;
    drop((raw, ceiling_raw));
    drop((store, ceiling_store));
    drop_db(&db).await?;
    drop_db(&ceiling_db).await?;

    let mut loads = Vec::new();
    let mut peaks = Vec::new();
    let load_reps = if knobs.runs("load") {
        knobs.load_reps
    } else {
        0
    };
    let load = if load_reps > 0 {
        progress(
            engine,
            "100k initial load (eryxon serve child process, 2 clients)",
        );
        load_plan()
    } else {
        Load {
            levels: Vec::new(),
            records: 0,
        }
    };
    for (rep, measured) in reps_of(knobs, load_reps).filter(|_| load_reps > 0) {
        let (took, peak_kb, cpu) = load_once(engine, dir.path(), rep, &load).await?;
        progress(
            engine,
            &format!(
                "  load {rep}: {:.2} s, peak RSS {} MB, server CPU: {cpu}",
                took.as_secs_f64(),
                peak_kb / 1024
            ),
        );
        if measured {
            loads.push(took);
            peaks.push(peak_kb);
        }
    }
    let mut load_s = None;
    if !loads.is_empty() {
        let load_figure = per_call(engine, "load_100k", load.records, &loads);
        load_s = Some(load_figure.p50_ms / 1000.0);
        figures.push(load_figure);
    }
    let peak_mb = peaks.iter().max().map(|kb| *kb as f64 / 1024.0);

    if knobs.big_rows > 0 && knobs.runs("big") {
        progress(
            engine,
            &format!("big table: filling {} jobs", knobs.big_rows),
        );
        let db = fresh_db(engine, dir.path(), "big").await?;
        let store = store::open(&db.url).await?;
        let mut raw = Raw::open(engine, &db.url).await?;
        let (key, tenant) = key_and_tenant(&*store, &mut raw, engine).await?;
        let start = Instant::now();
        let filled = fill(&mut raw, engine, &tenant, knobs.big_rows).await?;
        ensure!(filled == knobs.big_rows, "filled {filled} rows");
        progress(
            engine,
            &format!("  filled in {:.1} s", start.elapsed().as_secs_f64()),
        );
        let server = Server::start(store.clone()).await?;
        let api = Api::new(&server.base, &key);
        // The empty table it is compared with is measured beside it, repetitions alternating,
        // so that both meet the machine in the same state (the flat group ran minutes before).
        let empty_db = fresh_db(engine, dir.path(), "empty").await?;
        let empty_store = store::open(&empty_db.url).await?;
        let mut empty_raw = Raw::open(engine, &empty_db.url).await?;
        let (empty_key, _) = key_and_tenant(&*empty_store, &mut empty_raw, engine).await?;
        let empty_server = Server::start(empty_store.clone()).await?;
        let empty_api = Api::new(&empty_server.base, &empty_key);
        progress(
            engine,
            "flat 1000 over HTTP at the big and at an empty table",
        );
        let (big, empty) = alternating(
            knobs,
            async |rep| http_flat_rep(&api, &format!("G{rep}")).await,
            async |rep| http_flat_rep(&empty_api, &format!("E{rep}")).await,
        )
        .await?;
        for (variant, (big, empty)) in ["flat_insert", "flat_update", "flat_unchanged"]
            .into_iter()
            .zip(big.iter().zip(&empty))
        {
            figures.push(figure(&format!("big/{variant}"), BATCH, big));
            figures.push(figure(&format!("empty/{variant}"), BATCH, empty));
        }
        drop((api, empty_api));
        server.stop().await?;
        empty_server.stop().await?;
        drop((raw, empty_raw));
        drop((store, empty_store));
        drop_db(&db).await?;
        drop_db(&empty_db).await?;
    }

    progress(
        engine,
        &format!("done in {:.0} s", started.elapsed().as_secs_f64()),
    );
    println!("load average at end: {}", loadavg());
    report.figures.extend(figures);
    report.link_ratios();
    report.judge(engine, load_s, peak_mb);
    report.print(engine);
    Ok(())
}

fn main() -> Result<()> {
    // `cargo test --all-targets` also runs bench targets, without `--bench`: measure nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("sync bench: run it with `cargo bench --bench sync`");
        return Ok(());
    }
    let knobs = Knobs::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        eprintln!(
            "sync bench: {} warm-up + {} repetitions ({} for the baseline, {} for the load), \
             big table {} rows, {} PUTs per run",
            knobs.warmup,
            knobs.reps,
            knobs.baseline_reps,
            knobs.load_reps,
            knobs.big_rows,
            knobs.puts
        );
        let mut report = Report {
            figures: Vec::new(),
            targets: Vec::new(),
        };
        for engine in &knobs.engines {
            println!("\n== {} ==", engine.name());
            run_engine(*engine, &knobs, &mut report).await?;
        }
        println!();
        report.print_json();
        Ok(())
    })
}
