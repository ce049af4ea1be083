//! The old release `upgrade` starts this release on: the migrations before one of this
//! release's, applied by a migrator of their own, so `_sqlx_migrations` records them as the
//! server's would (same versions, same checksums: the same files), and its data written by
//! plain SQL in the columns that schema has (read from the database), as that release's syncs
//! left them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use eryxon::domain::api_key::IssuedKey;
use eryxon::domain::Mode;
use sqlx::Connection;
use uuid::Uuid;

use crate::common::Engine;

/// A time as the store keeps it (UTC, microseconds, fixed width), and a UUIDv7 of that time,
/// as the old release gave out ids.
fn stored(at: time::OffsetDateTime) -> (String, Uuid) {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    let seconds = at.unix_timestamp() as u64;
    let id = Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        seconds,
        at.nanosecond(),
    ));
    (at.format(format).unwrap(), id)
}

/// What the old release wrote: its ids, when it created the records (three months ago), and
/// when the ERP last changed the job (two hours ago, before the operator upgraded).
pub(crate) struct OldIds {
    pub(crate) created: String,
    pub(crate) changed: String,
    pub(crate) tenant: Uuid,
    pub(crate) key: Uuid,
    pub(crate) cell: Uuid,
    pub(crate) job: Uuid,
    pub(crate) part: Uuid,
    pub(crate) cut: Uuid,
    pub(crate) deburr: Uuid,
    /// An operation the ERP deleted under the old release.
    pub(crate) paint: Uuid,
    pub(crate) import: Uuid,
}

/// The engine's migrations, by version.
pub(crate) fn migrations(engine: Engine) -> Vec<(u64, PathBuf)> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(match engine {
        Engine::Sqlite => "migrations/sqlite",
        Engine::Postgres => "migrations/postgres",
    });
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name.split('_').next().unwrap().parse().unwrap(), path)
        })
        .collect();
    files.sort();
    files
}

/// Copies into `into` the migrations before version `before`, and answers how many.
fn old_release_migrations(engine: Engine, before: u64, into: &Path) -> usize {
    std::fs::create_dir_all(into).unwrap();
    let mut copied = 0;
    for (version, path) in migrations(engine) {
        if version < before {
            std::fs::copy(&path, into.join(path.file_name().unwrap())).unwrap();
            copied += 1;
        }
    }
    copied
}

/// The columns of each table of the old schema (none: the table did not exist yet).
type Schema = HashMap<&'static str, HashSet<String>>;

const TABLES: [&str; 7] = [
    "tenants",
    "api_keys",
    "cells",
    "jobs",
    "parts",
    "operations",
    "sync_imports",
];

fn columns_sql(engine: Engine, table: &str) -> String {
    match engine {
        Engine::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
        Engine::Postgres => format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    }
}

/// `INSERT`s of `rows` into `table`, in the columns the old schema has (nothing if it had no
/// such table).
fn insert(schema: &Schema, table: &str, rows: &[Vec<(&str, String)>]) -> String {
    let present = &schema[table];
    if present.is_empty() {
        return String::new();
    }
    let mut sql = String::new();
    for row in rows {
        let (names, values): (Vec<&str>, Vec<&str>) = row
            .iter()
            .filter(|(column, _)| present.contains(*column))
            .map(|(column, value)| (*column, value.as_str()))
            .unzip();
        sql += &format!(
            "INSERT INTO {table} ({}) VALUES ({});\n",
            names.join(", "),
            values.join(", ")
        );
    }
    sql
}

fn text(value: impl std::fmt::Display) -> String {
    format!("'{value}'")
}

/// The old release's data: tenant `acme` with a live key, cell `Cutting`, and job SO-12345
/// with part SO-12345-10 and its routing (Laser cut, Deburr, and, where the schema can keep
/// a deleted record, Paint, which the ERP deleted), plus the history entry of the sync that
/// last changed the job. Literals that both engines read into their column types.
fn old_release_data(schema: &Schema, ids: &OldIds, key: &IssuedKey) -> String {
    let OldIds {
        created,
        changed,
        tenant,
        key: key_id,
        cell,
        job,
        part,
        cut,
        deburr,
        paint,
        import,
    } = ids;
    let (created, changed) = (&text(created), &text(changed));
    let null = || "NULL".to_owned();
    // Every record as a sync of the old release left it: synced_at where the last sync put
    // it, and a fingerprint of what that sync sent (by the old release's reckoning).
    let record = |id: &Uuid, external: &str, updated: &String| {
        vec![
            ("id", text(id)),
            ("tenant_id", text(tenant)),
            ("mode", text("live")),
            ("external_source", text("SAP")),
            ("external_id", text(external)),
            ("created_at", created.clone()),
            ("updated_at", updated.clone()),
            ("deleted_at", null()),
            ("synced_at", updated.clone()),
        ]
    };
    let with = |mut base: Vec<(&'static str, String)>, more: Vec<(&'static str, String)>| {
        base.extend(more);
        base
    };
    let operation = |id, external, name: &str, sequence: i32, minutes: i32, fingerprint| {
        with(
            record(id, external, created),
            vec![
                ("part_id", text(part)),
                ("cell_id", text(cell)),
                ("operation_name", text(name)),
                ("sequence", sequence.to_string()),
                ("estimated_time_minutes", minutes.to_string()),
                ("status", text("not_started")),
                ("sync_fingerprint", fingerprint),
            ],
        )
    };
    let mut operations = vec![
        with(
            operation(cut, "SO-12345-10-010", "Laser cut", 1, 45, "11".into()),
            vec![("notes", text("Program P-77"))],
        ),
        with(
            operation(deburr, "SO-12345-10-020", "Deburr", 2, 20, "22".into()),
            vec![("metadata", text(r#"{"tool":"brush"}"#))],
        ),
    ];
    if schema["operations"].contains("deleted_at") {
        let mut painted = operation(paint, "SO-12345-10-030", "Paint", 3, 30, null());
        painted.retain(|(column, _)| !matches!(*column, "updated_at" | "deleted_at"));
        painted.extend([
            ("updated_at", changed.clone()),
            ("deleted_at", changed.clone()),
        ]);
        operations.push(painted);
    }
    [
        insert(
            schema,
            "tenants",
            &[vec![
                ("id", text(tenant)),
                ("slug", text("acme")),
                ("created_at", created.clone()),
            ]],
        ),
        insert(
            schema,
            "api_keys",
            &[vec![
                ("id", text(key_id)),
                ("tenant_id", text(tenant)),
                ("name", text("SAP prod")),
                ("mode", text("live")),
                ("lookup", text(&key.lookup)),
                ("hash", text(&key.hash)),
                ("created_at", created.clone()),
                ("last_used_at", changed.clone()),
            ]],
        ),
        insert(
            schema,
            "cells",
            &[with(
                record(cell, "WC-CUTTING", created),
                vec![
                    ("name", text("Cutting")),
                    ("color", text("#3b82f6")),
                    ("sequence", "1".into()),
                    ("active", "TRUE".into()),
                    ("capacity_hours_per_day", "7.5".into()),
                    ("wip_limit", "4".into()),
                    ("notes", text("Two lasers")),
                    ("metadata", text(r#"{"hall":"B"}"#)),
                    ("sync_fingerprint", "4242424242".into()),
                ],
            )],
        ),
        insert(
            schema,
            "jobs",
            &[with(
                record(job, "SO-12345", changed),
                vec![
                    ("job_number", text("JOB-2024-001")),
                    ("customer", text("Acme Corp")),
                    ("due_date", text("2024-06-30")),
                    ("priority", "2".into()),
                    ("status", text("in_progress")),
                    ("notes", text("Rush order")),
                    ("metadata", text(r#"{"line":10,"plant":"HH"}"#)),
                    ("sync_fingerprint", "-7001002003004005006".into()),
                ],
            )],
        ),
        insert(
            schema,
            "parts",
            &[with(
                record(part, "SO-12345-10", created),
                vec![
                    ("job_id", text(job)),
                    ("part_number", text("BRACKET-A")),
                    ("material", text("S235 steel")),
                    ("quantity", "25".into()),
                    ("status", text("not_started")),
                    ("notes", text("Deburr all edges")),
                    ("sync_fingerprint", "1234567890123".into()),
                ],
            )],
        ),
        insert(schema, "operations", &operations),
        insert(
            schema,
            "sync_imports",
            &[vec![
                ("id", text(import)),
                ("tenant_id", text(tenant)),
                ("mode", text("live")),
                ("key_id", text(key_id)),
                ("endpoint", text("PUT /api-jobs/sync")),
                ("entity", text("jobs")),
                ("sources", text(r#"["SAP"]"#)),
                ("dry_run", "FALSE".into()),
                ("status", "200".into()),
                ("total", "1".into()),
                ("created", "0".into()),
                ("updated", "1".into()),
                ("unchanged", "0".into()),
                ("errors", "0".into()),
                ("error_details", text("[]")),
                ("duration_ms", "12".into()),
                ("request_id", text("erp-run-0042")),
                ("created_at", changed.clone()),
            ]],
        ),
    ]
    .concat()
}

/// What the old release left: its ids and key, and what its schema could keep.
pub(crate) struct Old {
    pub(crate) ids: OldIds,
    pub(crate) key: IssuedKey,
    /// Whether it could keep a deleted record (Paint), and a sync history.
    pub(crate) deleted_paint: bool,
    pub(crate) history: bool,
}

/// Makes at `url` the database of the release before migration `before`, filled with its
/// data; `dir` holds its copy of the old migrations.
pub(crate) async fn make(engine: Engine, url: &str, before: u64, dir: &Path) -> Old {
    let old_migrations = dir.join("old-migrations");
    let applied = old_release_migrations(engine, before, &old_migrations);
    let migrator = sqlx::migrate::Migrator::new(old_migrations.as_path())
        .await
        .expect("the old migrations read");
    let now = time::OffsetDateTime::now_utc();
    let created = now - time::Duration::days(90);
    let (created_at, _) = stored(created);
    let (changed_at, import) = stored(now - time::Duration::hours(2));
    let id = |n: i64| stored(created + time::Duration::seconds(n)).1;
    let ids = OldIds {
        created: created_at.clone(),
        changed: changed_at.clone(),
        tenant: id(0),
        key: id(1),
        cell: id(2),
        job: id(3),
        part: id(4),
        cut: id(5),
        deburr: id(6),
        paint: id(7),
        import,
    };
    let key = IssuedKey::generate(Mode::Live);
    let recorded_sql = "SELECT count(*) FROM _sqlx_migrations WHERE success";
    // Connects, runs the old migrations, reads the schema they made, writes the data.
    macro_rules! old_release {
        ($connection:expr) => {{
            let mut db = $connection;
            migrator.run(&mut db).await.expect("the old schema");
            let mut schema = Schema::new();
            for table in TABLES {
                let columns: Vec<String> = sqlx::query_scalar(&columns_sql(engine, table))
                    .fetch_all(&mut db)
                    .await
                    .unwrap();
                schema.insert(table, columns.into_iter().collect());
            }
            let data = old_release_data(&schema, &ids, &key);
            sqlx::raw_sql(&data)
                .execute(&mut db)
                .await
                .unwrap_or_else(|e| panic!("the old data: {e}\n{data}"));
            let recorded: i64 = sqlx::query_scalar(recorded_sql)
                .fetch_one(&mut db)
                .await
                .unwrap();
            db.close().await.unwrap();
            (schema, recorded)
        }};
    }
    let (schema, recorded) = match engine {
        Engine::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .unwrap()
                .create_if_missing(true);
            old_release!(sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap())
        }
        Engine::Postgres => old_release!(sqlx::PgConnection::connect(url).await.unwrap()),
    };
    assert_eq!(recorded as usize, applied, "the old release's migrations");
    let deleted_paint = schema["operations"].contains("deleted_at");
    let history = !schema["sync_imports"].is_empty();
    Old {
        ids,
        key,
        deleted_paint,
        history,
    }
}
