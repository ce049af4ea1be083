//! The `eryxon` binary as an operator runs it.

use std::process::{Command, Output};

use serde_json::json;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

pub fn eryxon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eryxon"))
        .args(args)
        .env("ERYXON_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

async fn api_keys_are_created_listed_and_revoked(engine: Engine) {
    let server = TestServer::start(engine).await;
    let db = server.database_url.clone();
    let created = eryxon(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--name",
        "SAP prod",
        "--database",
        &db,
    ]);
    let key = stdout(&created).trim().to_owned();
    assert!(
        key.starts_with("ery_live_"),
        "stdout is only the key: {key:?}"
    );
    assert!(key.len() >= "ery_live_".len() + 32);
    assert!(!key.contains(char::is_whitespace));
    let test_key = stdout(&eryxon(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--test",
        "--database",
        &db,
    ]));
    assert!(test_key.trim().starts_with("ery_test_"));

    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"});
    server.put("/api-cells/sync", &key, &cell).await.expect(201);

    let listing = stdout(&eryxon(&[
        "api-key",
        "list",
        "--tenant",
        "acme",
        "--database",
        &db,
    ]));
    assert!(listing.contains("SAP prod"), "{listing}");
    assert!(
        listing.contains(&key[..21]),
        "the prefix is shown: {listing}"
    );
    assert!(!listing.contains(&key[21..]), "the secret is never shown");
    assert!(
        !listing.contains(test_key.trim()),
        "the secret is never shown"
    );
    if engine == Engine::Sqlite {
        let mut database =
            std::fs::read(server.dir().join("eryxon.db")).expect("the database file");
        database.extend(std::fs::read(server.dir().join("eryxon.db-wal")).unwrap_or_default());
        let haystack = String::from_utf8_lossy(&database);
        assert!(
            haystack.contains(&key[9..21]),
            "the lookup prefix is stored, so this check can see"
        );
        assert!(
            !haystack.contains(&key[9..]),
            "the key is not stored in clear"
        );
    }

    let listed_id = listing
        .lines()
        .find(|l| l.contains("SAP prod"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let revoked = stdout(&eryxon(&[
        "api-key",
        "revoke",
        &listed_id,
        "--database",
        &db,
    ]));
    assert!(revoked.starts_with("revoked"), "{revoked}");
    server.get("/api-cells", &key).await.expect(401);
    // Again: said as it is, and when it was.
    let again = stdout(&eryxon(&[
        "api-key",
        "revoke",
        &listed_id,
        "--database",
        &db,
    ]));
    assert!(again.contains("was already revoked at"), "{again}");

    let unknown = eryxon(&[
        "api-key",
        "revoke",
        "ery_live_ZZZZZZZZZZZZ",
        "--database",
        &db,
    ]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key matches"));
    let bad_tenant = eryxon(&[
        "api-key",
        "create",
        "--tenant",
        "Not Valid",
        "--database",
        &db,
    ]);
    assert!(!bad_tenant.status.success());
    // `api-key list` prints names: no escape sequence gets into an operator's terminal.
    let escape = eryxon(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--name",
        "ERP\u{1b}[2J",
        "--database",
        &db,
    ]);
    assert!(!escape.status.success());
    assert!(String::from_utf8_lossy(&escape.stderr).contains("--name"));
}

/// `eryxon backup` copies a SQLite database while the server goes on writing to it; a server
/// started on the copy serves every record acknowledged before the backup began, and the
/// copy is refused over an existing file and for PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_server_writes_serves_alone() {
    let mut server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let jobs: Vec<_> = (0..500)
        .map(|n| json!({"external_id": format!("J{n}"), "external_source": "SAP", "job_number": format!("{n}")}))
        .collect();
    server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": jobs}))
        .await
        .expect(200);
    let dir = tempfile::TempDir::new().unwrap();
    let copy = dir.path().join("copy.db");
    let (source, target) = (server.database_url.clone(), copy.display().to_string());
    let backup =
        tokio::task::spawn_blocking(move || eryxon(&["backup", &target, "--database", &source]));
    // Writes go on while the copy is taken, and are answered as ever.
    let mut n = 0;
    while !backup.is_finished() {
        let job = json!({"external_id": format!("later-{n}"), "external_source": "SAP", "job_number": "x"});
        server.put("/api-jobs/sync", &key, &job).await.expect(201);
        n += 1;
    }
    let said = stdout(&backup.await.unwrap());
    assert!(said.contains("integrity checked"), "{said}");

    let copy_url = format!("sqlite://{}", copy.display());
    let again = eryxon(&[
        "backup",
        &copy.display().to_string(),
        "--database",
        &copy_url,
    ]);
    assert!(!again.status.success());
    let told = String::from_utf8_lossy(&again.stderr);
    assert!(told.contains("exists"), "{told}");
    // Never a file in the working directory, whatever the command does.
    let elsewhere = dir.path().join("x.db").display().to_string();
    let postgres = eryxon(&[
        "backup",
        &elsewhere,
        "--database",
        "postgres://u@localhost/db",
    ]);
    assert!(String::from_utf8_lossy(&postgres.stderr).contains("pg_dump"));
    let missing = dir.path().join("none.db").display().to_string();
    let nothing = eryxon(&[
        "backup",
        &elsewhere,
        "--database",
        &format!("sqlite://{missing}"),
    ]);
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("there is no database at"));

    server.stop().await;
    let restored = crate::deploy::Instance::spawn(&copy_url, 1000).await;
    let page = restored.get("/api-jobs?limit=1", &key).await;
    assert_eq!(page.status(), 200);
    let page: serde_json::Value = page.json().await.unwrap();
    let total = page["data"]["pagination"]["total"].as_u64().unwrap();
    assert!(total >= 500 && total <= 500 + n, "{total} of 500 + {n}");
    restored.stop().await;
}

on_every_engine!(api_keys_are_created_listed_and_revoked);
