//! `eryxon backup`: a copy of a SQLite database taken while the server runs.
//!
//! Copying the file is not a backup: a sync acknowledged moments ago may still be only in the
//! `-wal` file beside it, and a copy taken mid-write is torn. `VACUUM INTO` writes, from one
//! read transaction, the database as of that moment into a new file, taking no write lock, so
//! syncs go on while it runs (`cli::a_backup_taken_while_the_server_writes_serves_alone`).

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::connect_options;
use crate::store::StoreError;

/// Writes the database at `url` as of now into the new file `to` and checks the copy's
/// integrity; answers the copy's size in bytes. `to` must not exist (SQLite refuses to write
/// over a file that is not empty).
pub async fn backup(url: &str, to: &Path) -> Result<u64, StoreError> {
    let mut source = connect_options(url)?
        .create_if_missing(false)
        .connect()
        .await?;
    let target = to.to_string_lossy().into_owned();
    sqlx::query("VACUUM INTO ?")
        .bind(&target)
        .execute(&mut source)
        .await?;
    source.close().await?;
    // The copy as a server would open it: every page read once, every index against its table.
    let mut copy = SqliteConnectOptions::from_str("sqlite://")?
        .filename(to)
        .read_only(true)
        .connect()
        .await?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await?;
    copy.close().await?;
    if verdict != "ok" {
        return Err(StoreError::Database(sqlx::Error::Protocol(format!(
            "the copy at {target} failed its integrity check: {verdict}"
        ))));
    }
    Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
}
