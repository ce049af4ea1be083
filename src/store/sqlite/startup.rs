//! Why a SQLite file cannot be opened for writing, said in the operator's words. SQLite itself
//! says "unable to open database file" for a missing directory and for one it may not write
//! its journal to, and opens a read-only file read-only without a word, so that the first sync
//! would fail instead of the start (`startup::an_unwritable_database_is_refused_at_start`).

use std::fs::OpenOptions;
use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::SqlitePool;

use crate::store::StoreError;

/// SQLite's result codes that mean the file or its directory cannot be written.
const SQLITE_PERM: i64 = 3;
const SQLITE_READONLY: i64 = 8;
const SQLITE_CANTOPEN: i64 = 14;

/// Checks that the store can write the file (a write in a transaction that is rolled back).
pub(super) async fn check_writable(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut tx = super::begin_write(pool).await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(&format!("PRAGMA user_version = {version}"))
        .execute(&mut *tx)
        .await?;
    tx.rollback().await
}

/// The store's error for a failure to open `options`' file: what to change when the file or
/// its directory is not writable, else the error as it is.
pub(super) fn explain(options: &SqliteConnectOptions, error: sqlx::Error) -> StoreError {
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i64>().ok())
        .map(|code| code & 0xff);
    let path = options.get_filename();
    if !matches!(code, Some(SQLITE_PERM | SQLITE_READONLY | SQLITE_CANTOPEN))
        || path.as_os_str() == ":memory:"
    {
        return StoreError::from(error);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let (file, folder) = (path.display(), dir.display());
    let message = if !dir.is_dir() {
        format!("cannot create the database {file}: the directory {folder} does not exist")
    } else if !directory_writable(dir) {
        format!(
            "cannot write the database {file}: the directory {folder} must be writable \
             (SQLite keeps its journal files beside the database file)"
        )
    } else if path.exists() && OpenOptions::new().write(true).open(path).is_err() {
        format!("the database file {file} is read-only; the server must be able to write it")
    } else {
        return StoreError::from(error);
    };
    StoreError::NotWritable(message)
}

/// Whether a file can be created in `dir`, tried with a file of this process's own.
fn directory_writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".eryxon-write-check-{}", std::process::id()));
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .is_ok();
    if created {
        let _ = std::fs::remove_file(&probe);
    }
    created
}
