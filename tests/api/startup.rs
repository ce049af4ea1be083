//! `eryxon serve` refusing to start says why once, in the operator's words.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cli::eryxon;
use crate::common::{Engine, TestServer};
use crate::on_every_engine;

/// The output of a `serve` that should refuse to start, once it exits (within 20 s, else the
/// test fails, naming `how` it was started).
fn exited(mut child: std::process::Child, how: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("the process").is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("eryxon serve started {how}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs `eryxon serve` on `database` and answers its output once it exits (within 20 s, else
/// the test fails: it should not have started). On a SQLite file as root, it runs as `nobody`,
/// for whom file permissions hold.
fn serve_refused(database: &str) -> String {
    let unprivileged = database.starts_with("sqlite:")
        && Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let binary = env!("CARGO_BIN_EXE_eryxon");
    let mut command = if unprivileged {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            binary,
        ]);
        c
    } else {
        Command::new(binary)
    };
    let child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .env("ERYXON_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let output = exited(child, &format!("on {database}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.matches("(code:").count() <= 1,
        "each cause once: {stderr}"
    );
    stderr
}

/// A path in a fresh directory that `nobody` may enter.
fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    set_mode(dir.path(), 0o777);
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A database made by this binary, closed with its WAL folded into the file, so that the file
/// alone holds it all.
async fn made_database(dir: &Path, name: &str) -> std::path::PathBuf {
    use sqlx::Connection;
    let path = dir.join(name);
    let url = format!("sqlite://{}", path.display());
    let created = eryxon(&["api-key", "create", "--tenant", "acme", "--database", &url]);
    assert!(created.status.success(), "{created:?}");
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(busy, 0, "the WAL is folded in");
    db.close().await.unwrap();
    for journal in ["-wal", "-shm"] {
        std::fs::remove_file(dir.join(format!("{name}{journal}"))).ok();
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_database_is_refused_at_start() {
    let dir = open_dir();
    let missing = dir.path().join("nowhere/eryxon.db");
    let said = serve_refused(&format!("sqlite://{}", missing.display()));
    assert!(
        said.contains("the directory") && said.contains("nowhere does not exist"),
        "{said}"
    );

    let locked_dir = dir.path().join("locked");
    std::fs::create_dir(&locked_dir).unwrap();
    let in_locked = made_database(&locked_dir, "eryxon.db").await;
    set_mode(&in_locked, 0o666);
    set_mode(&locked_dir, 0o555);
    let said = serve_refused(&format!("sqlite://{}", in_locked.display()));
    assert!(
        said.contains("locked must be writable") && said.contains("journal"),
        "{said}"
    );

    let read_only = made_database(dir.path(), "read-only.db").await;
    set_mode(&read_only, 0o444);
    let said = serve_refused(&format!("sqlite://{}", read_only.display()));
    assert!(said.contains("read-only.db is read-only"), "{said}");
}

async fn a_database_from_a_newer_eryxon_is_refused_in_plain_words(engine: Engine) {
    let server = TestServer::start(engine).await;
    let directory = match engine {
        Engine::Sqlite => "migrations/sqlite",
        Engine::Postgres => "migrations/postgres",
    };
    // The highest version, which branches merged side by side may leave above the count.
    let known = std::fs::read_dir(directory)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.split('_').next()?.parse::<u64>().ok()
        })
        .max()
        .unwrap();
    server
        .write_behind_the_server(
            "INSERT INTO _sqlx_migrations \
             (version, description, installed_on, success, checksum, execution_time) \
             VALUES (99, 'from the future', CURRENT_TIMESTAMP, TRUE, '', 0)",
        )
        .await;
    let said = serve_refused(&server.database_url);
    let expected = format!(
        "this database was written by a newer eryxon (schema 99, this binary knows {known})"
    );
    assert_eq!(said.matches(&expected).count(), 1, "{said}");
    assert!(!said.contains("previously applied"), "{said}");
}

on_every_engine!(a_database_from_a_newer_eryxon_is_refused_in_plain_words);

/// Settings under which the server could answer nothing are refused at start, naming the
/// setting (they started, every write answered 408 or 413, and `/healthz` said 200); so are
/// log settings that cannot be read (they were silently ignored).
#[test]
fn bad_settings_are_refused_at_start() {
    let dir = tempfile::TempDir::new().unwrap();
    let database = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    for (name, value, says) in [
        ("ERYXON_REQUEST_TIMEOUT_SECS", "0", "request-timeout-secs"),
        ("ERYXON_MAX_BODY_BYTES", "0", "at least 1024 bytes"),
        ("ERYXON_LOG_FORMAT", "xml", "use text or json"),
        ("ERYXON_LOG", "garbage[[", "ERYXON_LOG"),
        // Values past what a timer or the engine takes (they panicked once serving).
        (
            "ERYXON_REQUEST_TIMEOUT_SECS",
            "18446744073709551615",
            "request-timeout-secs",
        ),
        (
            "ERYXON_DB_BUSY_TIMEOUT_SECS",
            "18446744073709551615",
            "db-busy-timeout-secs",
        ),
        (
            "ERYXON_DB_ACQUIRE_TIMEOUT_SECS",
            "0",
            "db-acquire-timeout-secs",
        ),
        (
            "ERYXON_WEBHOOK_RETRY_SCHEDULE",
            "5s,99999999999d",
            "longest wait",
        ),
        // `*` panicked after "listening"; a path is no origin and never matched.
        (
            "ERYXON_CORS_ORIGINS",
            "https://a.example.com, *",
            "name each origin",
        ),
        (
            "ERYXON_CORS_ORIGINS",
            "https://a.example.com/app",
            "not an origin",
        ),
    ] {
        let child = Command::new(env!("CARGO_BIN_EXE_eryxon"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
            .env(name, value)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let output = exited(child, &format!("with {name}={value}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}={value}: {stderr}");
        assert!(stderr.contains(says), "{name}={value}: {stderr}");
    }
}

/// A database URL that names no file (an in-memory database: one per connection, lost with
/// the server) is refused at start; it started, answered every call 500 and `/healthz` 200.
/// And a password in a URL is never printed.
#[test]
fn a_database_url_without_a_file_is_refused() {
    for (database, says) in [
        ("sqlite://", "use sqlite://PATH"),
        ("sqlite::memory:", "use sqlite://PATH"),
        ("sqlite://eryxon.db?mode=memory", "use sqlite://PATH"),
        (
            "postgres://eryx:s3cret@127.0.0.1:1/eryxon",
            "postgres://eryx:***@127.0.0.1:1/eryxon",
        ),
    ] {
        let child = Command::new(env!("CARGO_BIN_EXE_eryxon"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .env("ERYXON_DB_ACQUIRE_TIMEOUT_SECS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let output = exited(child, database);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{database}: {stderr}");
        assert!(stderr.contains(says), "{database}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{database}: {stderr}");
    }
}
