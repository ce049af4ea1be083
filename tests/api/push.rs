//! `eryxon push`: export files through the bulk-sync API, as an operator runs it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use serde_json::Value;
use tempfile::TempDir;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

/// The sample ERP export of the README's example (`fixtures/eryxon-csv/`).
fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/eryxon-csv")
        .join(name)
        .display()
        .to_string()
}

/// The fixture files, deliberately in reverse dependency order.
fn fixtures_reversed() -> Vec<String> {
    [
        "operations.csv",
        "parts.csv",
        "jobs.csv",
        "resources.csv",
        "cells.csv",
    ]
    .map(fixture)
    .to_vec()
}

pub(crate) async fn push(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_eryxon"))
        .arg("push")
        .args(args)
        .env("ERYXON_LOG", "warn")
        .env_remove("ERYXON_API_KEY")
        .output()
        .await
        .expect("the binary runs")
}

/// `eryxon push --url <server> --key <key> <files>…`, the plain run.
pub(crate) async fn push_files(server: &TestServer, key: &str, files: &[&Path]) -> Output {
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let mut args = vec!["--url", &server.base, "--key", key];
    args.extend(files.iter().map(String::as_str));
    push(&args).await
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn exit_code(output: &Output) -> i32 {
    output.status.code().expect("an exit code")
}

/// Per entity: records, created, updated, unchanged, errors.
pub(crate) fn summary(stdout: &str) -> BTreeMap<String, [usize; 5]> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("ENTITY"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let entity = words.next().unwrap().to_owned();
            let numbers: Vec<usize> = words.take(5).map(|w| w.parse().unwrap()).collect();
            (entity, numbers.try_into().unwrap())
        })
        .collect()
}

pub(crate) fn rejected_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("Rejected ("))
        .skip(1)
        .collect()
}

/// How many records of `entity` the server holds for `key`.
pub(crate) async fn total(server: &TestServer, entity: &str, key: &str) -> u64 {
    let reply = server
        .get(&format!("/api-{entity}?limit=1"), key)
        .await
        .expect(200);
    reply.data()["pagination"]["total"].as_u64().unwrap()
}

async fn fixture_files_load_in_dependency_order_and_rejects_are_reported(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let errors = server.dir().join("rejected.csv");
    let errors_arg = errors.display().to_string();
    let files = fixtures_reversed();
    let mut args = vec![
        "--url",
        &server.base,
        "--key",
        &key,
        "--errors",
        &errors_arg,
    ];
    args.extend(files.iter().map(String::as_str));

    let first = push(&args).await;
    let stdout = text(&first.stdout);
    assert_eq!(exit_code(&first), 1, "some rows are rejected: {first:?}");
    let expected: BTreeMap<String, [usize; 5]> = [
        ("cells", [6, 6, 0, 0, 0]),
        ("resources", [6, 3, 0, 0, 3]),
        ("jobs", [5, 5, 0, 0, 0]),
        ("parts", [8, 8, 0, 0, 0]),
        ("operations", [16, 16, 0, 0, 0]),
        ("total", [41, 38, 0, 0, 3]),
    ]
    .into_iter()
    .map(|(entity, counts)| (entity.to_owned(), counts))
    .collect();
    assert_eq!(summary(&stdout), expected, "{stdout}");
    for (entity, held) in [
        ("cells", 6),
        ("resources", 3),
        ("jobs", 5),
        ("parts", 8),
        ("operations", 16),
    ] {
        assert_eq!(server.all(entity, &key).await.len(), held, "{entity}");
    }
    let operation = &server.all("operations", &key).await[0];
    assert!(
        operation["cell_id"].is_string(),
        "cells resolved: {operation}"
    );

    let rejected = rejected_lines(&stdout);
    assert_eq!(rejected.len(), 3, "{stdout}");
    for (line, id) in rejected
        .iter()
        .zip(["2  RES-001", "3  RES-002", "4  RES-003"])
    {
        assert!(
            line.starts_with(&format!(
                "{}:{id}  VALIDATION_ERROR  type: ",
                fixture("resources.csv")
            )),
            "file, line, external_id, code and field: {line}"
        );
        assert!(line.contains("\"machine\""), "the reason: {line}");
    }
    let mut reader = csv::Reader::from_path(&errors).expect("the --errors file");
    let header = reader.headers().unwrap().clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        ["file", "line", "external_id", "code", "field", "error"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][0], fixture("resources.csv"));
    assert_eq!(
        (&rows[0][1], &rows[0][2], &rows[0][4]),
        ("2", "RES-001", "type")
    );
    assert!(rows[2][5].contains("machine"));

    let again = push(&args).await;
    let stdout = text(&again.stdout);
    assert_eq!(exit_code(&again), 1, "{again:?}");
    let counts = summary(&stdout);
    assert_eq!(counts["cells"], [6, 0, 0, 6, 0], "{stdout}");
    assert_eq!(counts["resources"], [6, 0, 0, 3, 3]);
    assert_eq!(counts["jobs"], [5, 0, 0, 5, 0]);
    assert_eq!(counts["parts"], [8, 0, 0, 8, 0]);
    assert_eq!(counts["operations"], [16, 0, 0, 16, 0]);
    assert_eq!(rejected_lines(&stdout).len(), 3);
}

/// Every record as the server shows it, without what differs between two stores (ids,
/// timestamps), in a stable order.
async fn contents(server: &TestServer, key: &str) -> BTreeMap<&'static str, Vec<Value>> {
    let mut all = BTreeMap::new();
    for entity in ["cells", "resources", "jobs", "parts", "operations"] {
        let mut records = server.all(entity, key).await;
        for record in &mut records {
            let object = record.as_object_mut().unwrap();
            for volatile in [
                "id",
                "job_id",
                "part_id",
                "cell_id",
                "created_at",
                "updated_at",
                "synced_at",
            ] {
                object.remove(volatile);
            }
        }
        records.sort_by_key(|r| r["external_id"].as_str().unwrap().to_owned());
        all.insert(entity, records);
    }
    all
}

/// The summary and rejections without the throughput column, which is timing.
fn outcome_of(output: &Output) -> (i32, Vec<Vec<String>>, Vec<String>) {
    let stdout = text(&output.stdout);
    let table = stdout
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|line| {
            let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
            words[..words.len() - 1].to_vec()
        })
        .collect();
    let rejected = rejected_lines(&stdout)
        .iter()
        .map(|l| l.to_string())
        .collect();
    (exit_code(output), table, rejected)
}

async fn database_mode_gives_the_same_result_as_url_mode(engine: Engine) {
    let over_http = TestServer::start(engine).await;
    let http_key = over_http.key("acme").await;
    let files = fixtures_reversed();
    let mut args = vec!["--url", &over_http.base, "--key", &http_key];
    args.extend(files.iter().map(String::as_str));
    let via_url = push(&args).await;

    let direct = TestServer::start(engine).await;
    let direct_key = direct.key("acme").await;
    let mut args = vec!["--database", &direct.database_url, "--key", &direct_key];
    args.extend(files.iter().map(String::as_str));
    let via_database = push(&args).await;

    assert_eq!(
        outcome_of(&via_database),
        outcome_of(&via_url),
        "{via_database:?}"
    );
    assert_eq!(exit_code(&via_database), 1);
    assert_eq!(
        contents(&direct, &direct_key).await,
        contents(&over_http, &http_key).await
    );

    let other_tenant = direct.key("globex").await;
    assert!(
        direct.all("cells", &other_tenant).await.is_empty(),
        "the key decides the tenant"
    );
    let unknown_key = push(&[
        "--database",
        &direct.database_url,
        "--key",
        "ery_live_0000000000000000000000000000000000000000",
        &fixture("cells.csv"),
    ])
    .await;
    assert_eq!(exit_code(&unknown_key), 2);
    assert!(text(&unknown_key.stderr).contains("refused the API key"));
}

/// `count` cells, every `bad_every`-th with an unreadable wip_limit and every
/// `over_every`-th with a capacity the server refuses.
pub(crate) fn generated_cells(
    dir: &Path,
    count: usize,
    bad_every: usize,
    over_every: usize,
) -> PathBuf {
    let mut csv = String::with_capacity(count * 64);
    csv.push_str(
        "external_id,external_source,name,sequence,active,capacity_hours_per_day,wip_limit,color\n",
    );
    for i in 1..=count {
        let wip = if i % bad_every == 0 {
            "n/a".to_owned()
        } else {
            (i % 30).to_string()
        };
        let capacity = if i % over_every == 0 { "25" } else { "7.5" };
        let active = if i % 2 == 0 { "true" } else { "false" };
        writeln!(
            csv,
            "GEN-{i:06},GEN,Cell {i},{},{active},{capacity},{wip},#{:06x}",
            i % 100,
            i * 2654435 % 0xffffff
        )
        .unwrap();
    }
    let path = dir.join("cells.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

async fn a_generated_100k_row_file_imports_with_a_correct_summary(engine: Engine) {
    // 100k rows take about 5 s on SQLite and PostgreSQL alike in a debug build.
    let rows = 100_000;
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let dir = TempDir::new().unwrap();
    let (bad_every, over_every) = (rows / 5, rows * 3 / 10);
    let path = generated_cells(dir.path(), rows, bad_every, over_every);
    let unreadable = rows / bad_every;
    let refused = (1..=rows)
        .filter(|i| i % over_every == 0 && i % bad_every != 0)
        .count();

    let started = Instant::now();
    let output = push_files(&server, &key, &[&path]).await;
    let elapsed = started.elapsed();
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 1, "{output:?}");
    let [records, created, updated, unchanged, errors] = summary(&stdout)["cells"];
    assert_eq!(records, rows, "{stdout}");
    assert_eq!(errors, unreadable + refused, "{stdout}");
    assert_eq!(created, rows - errors);
    assert_eq!((updated, unchanged), (0, 0));
    assert_eq!(total(&server, "cells", &key).await, created as u64);
    let rejected = rejected_lines(&stdout);
    assert_eq!(rejected.len(), errors);
    let first_bad = format!(
        ":{}  GEN-{bad_every:06}  PARSE_ERROR  wip_limit: \"n/a\" is not a whole number",
        bad_every + 1
    );
    assert!(
        rejected[0].ends_with(&first_bad),
        "the line after the header holds row 1: {}",
        rejected[0]
    );
    let first_refused = format!("GEN-{over_every:06}  VALIDATION_ERROR  capacity_hours_per_day");
    assert!(
        rejected.iter().any(|l| l.contains(&first_refused)),
        "{stdout}"
    );
    eprintln!("pushed {rows} cells in {elapsed:.1?}");
}

async fn a_misspelt_column_stops_the_push_before_anything_is_sent(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let dir = TempDir::new().unwrap();
    let parts = dir.path().join("parts.csv");
    std::fs::write(
        &parts,
        "external_id,external_source,part_number,job_external_id,quantiy\nP1,ERP,X,JOB-2026-001,4\n",
    )
    .unwrap();
    let output = push(&[
        "--url",
        &server.base,
        "--key",
        &key,
        &fixture("cells.csv"),
        &fixture("jobs.csv"),
        &parts.display().to_string(),
    ])
    .await;
    assert_eq!(exit_code(&output), 2, "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("parts.csv: column 5 (\"quantiy\") is not a field of parts"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(total(&server, "cells", &key).await, 0);

    let dry = push(&[
        "--url",
        &server.base,
        "--key",
        &key,
        "--dry-run",
        &fixture("cells.csv"),
    ])
    .await;
    assert_eq!(exit_code(&dry), 0, "{dry:?}");
    let stdout = text(&dry.stdout);
    assert_eq!(
        summary(&stdout)["cells"][..2],
        [6, 6],
        "six would be created: {stdout}"
    );
    assert!(
        text(&dry.stderr)
            .contains("dry run: the server checked every record above and wrote nothing"),
        "said so: {dry:?}"
    );
    assert_eq!(
        total(&server, "cells", &key).await,
        0,
        "a dry run writes nothing"
    );
}

on_every_engine!(
    fixture_files_load_in_dependency_order_and_rejects_are_reported,
    database_mode_gives_the_same_result_as_url_mode,
    a_generated_100k_row_file_imports_with_a_correct_summary,
    a_misspelt_column_stops_the_push_before_anything_is_sent,
);
