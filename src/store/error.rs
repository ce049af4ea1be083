//! The store's errors, and the one place that tells which database errors a client may retry.

use sqlx::migrate::Migrator;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; the request may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Another process (an `eryxon` command, a second server, the `sqlite3` shell) held the
    /// SQLite file's write lock past the busy timeout; nothing of the write was kept.
    #[error("the database file is locked by another process: {0}")]
    Locked(String),
    /// The disk holding the database is full (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`); the write was rolled back whole and may succeed once space is freed.
    #[error("the database's disk is full: {0}")]
    Full(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("could not migrate the database: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// Migrations this binary does not have were applied: a newer eryxon wrote the database.
    #[error(
        "this database was written by a newer eryxon (schema {database}, this binary knows \
         {known}); run that version or a later one"
    )]
    NewerSchema { database: i64, known: i64 },
    /// The database cannot be opened for writing; the message says what to change.
    #[error("{0}")]
    NotWritable(String),
    /// What the SQLite store remembered of a stored row proved wrong; the sync is run again
    /// from what is stored, so no client sees this.
    #[error("a stored row is not where the store remembered it")]
    Misremembered,
    /// A concurrent request changed the record first; the client may retry.
    #[error("{0}")]
    Conflict(String),
    #[error("no API key matches {0:?}")]
    KeyNotFound(String),
    #[error("{0:?} matches more than one API key; use the key's id")]
    KeyAmbiguous(String),
}

impl StoreError {
    /// A deadlock or serialization failure: the transaction was rolled back whole, and
    /// running it again may well succeed.
    pub(crate) fn is_write_conflict(&self) -> bool {
        let StoreError::Unavailable(error) = self else {
            return false;
        };
        error
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
            .is_some_and(|e| matches!(e.code(), "40P01" | "40001"))
    }
}

/// The one classification of the database's errors: what the client may retry (`503`) and
/// what is a fault (`500`). Guarded by `locks::a_write_lock_held_too_long_is_503` and the
/// PostgreSQL outage tests (`deploy::outage_answers_503_and_recovers_without_restart`).
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(error)
            }
            error if is_locked(&error) => StoreError::Locked(error.to_string()),
            error if is_full(&error) => StoreError::Full(error.to_string()),
            error if is_transient(&error) => StoreError::Unavailable(error),
            error => StoreError::Database(error),
        }
    }
}

/// A failed migration as the operator reads it: a database holding a migration this binary
/// does not know was written by a newer version, which is said in those words
/// (`startup::a_database_from_a_newer_eryxon_is_refused_in_plain_words`).
pub(crate) fn migration_error(
    migrator: &Migrator,
    error: sqlx::migrate::MigrateError,
) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::VersionMissing(database) => StoreError::NewerSchema {
            database,
            known: migrator.iter().map(|m| m.version).max().unwrap_or(0),
        },
        error => StoreError::Migration(error),
    }
}

/// SQLite's "database is locked" (`SQLITE_BUSY`, or `SQLITE_LOCKED` and their extended codes):
/// another process kept the file's write lock past the busy timeout. The write was rolled back
/// whole, so the client may retry it (`503`; `locks::a_write_lock_held_too_long_is_503`).
fn is_locked(error: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    let Some(error) = error.as_database_error() else {
        return false;
    };
    sqlite_code(error).is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

/// The disk is full: SQLite's `SQLITE_FULL` (a write that found no space; the transaction is
/// rolled back, by SQLite itself or by the writer's pool, `sqlite::writer_options`) or
/// PostgreSQL's `53100`. Guarded by `disk::a_full_disk_is_503_and_the_server_recovers`.
fn is_full(error: &sqlx::Error) -> bool {
    const SQLITE_FULL: i64 = 13;
    let Some(error) = error.as_database_error() else {
        return false;
    };
    if let Some(e) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return e.code() == "53100";
    }
    sqlite_code(error).is_some_and(|code| code & 0xff == SQLITE_FULL)
}

/// A SQLite error's primary and extended result code.
fn sqlite_code(error: &dyn sqlx::error::DatabaseError) -> Option<i64> {
    error.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    error.code().and_then(|code| code.parse::<i64>().ok())
}

/// Failures the database reports as transient. PostgreSQL: a lost or refused connection
/// (class 08), credentials or a database the server no longer accepts (class 28, `3D000`: an
/// operator rotating a password or restoring a database fixes them without a restart), a server
/// shutting down or short of resources (class 53), a statement cancelled by its timeout, a
/// deadlock or serialization failure, a lock not available. SQLite: an I/O error
/// (`SQLITE_IOERR`: the write failed and was rolled back whole). Guarded by
/// `deploy::outage_answers_503_and_recovers_without_restart` and
/// `disk::a_full_disk_is_503_and_the_server_recovers`.
fn is_transient(error: &sqlx::Error) -> bool {
    const SQLITE_IOERR: i64 = 10;
    let Some(error) = error.as_database_error() else {
        return false;
    };
    if let Some(e) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = e.code();
        return ["08", "28", "53"]
            .iter()
            .any(|class| code.starts_with(class))
            || matches!(
                code,
                "3D000" | "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01" | "55P03"
            );
    }
    sqlite_code(error).is_some_and(|code| code & 0xff == SQLITE_IOERR)
}
