//! The embedded default store: one SQLite file in WAL mode, one writer connection (SQLite
//! serializes writers anyway; queueing them in the pool avoids busy retries) and a few readers.

mod backup;
mod checkpoint;
mod encode;
mod group;
mod known;
mod look;
mod overlap;
mod packed;
mod plan;
mod read;
mod recall;
mod recorded;
mod sql;
mod startup;
mod sync;
mod tx;
mod upsert;
mod windows;
mod write;

pub use self::backup::backup;
use crate::store::PoolState;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};
use uuid::Uuid;

use self::checkpoint::Checkpointer;
use self::group::Committer;
use self::known::KnownRows;
use self::read::SqliteReader;
use self::windows::WindowCounter;
use super::listing::Dialect;
use super::read::{get as read_record, list as read_page, reads_a_tree};
use super::tx::{Statements, Tx};
use super::{
    Access, Finish, HistoryDraft, ListQuery, Page, RecordRef, Store, StoreError, StoreOptions,
    Written,
};
use crate::domain::floor::{Action, Machine, Report};
use crate::domain::record::SyncBatch;
use crate::domain::view::RecordView;
use crate::domain::{Entity, Scope};
use crate::store::floor::Acted;

pub struct SqliteStore {
    writer: SqlitePool,
    /// Committed syncs go through here, so that concurrent ones share a transaction.
    committer: Committer,
    /// What is known of the rows syncs wrote; every other write to them forgets it.
    known: Arc<KnownRows>,
    reader: SqlitePool,
    /// One process serves a SQLite file, so its rate-limit windows can live in memory.
    rate_windows: WindowCounter,
    _checkpointer: Checkpointer,
}

/// How every connection to a SQLite file is set up; public so that the benchmark's ceiling
/// runs with exactly the server's settings.
pub fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        // `REGEXP`, for case-insensitive search in every script (`listing::Builder::contains`).
        .with_regexp()
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(super::DEFAULT_BUSY_TIMEOUT_SECS))
        .foreign_keys(true)
        // Checkpoints run in the background (`checkpoint`), hardly ever inside a commit.
        .pragma("wal_autocheckpoint", checkpoint::AUTOCHECKPOINT_PAGES)
        // A WAL that grew past it (a big transaction) is cut back when it starts over.
        .pragma("journal_size_limit", "67108864")
        // A statement within a transaction journals the pages it changes, so that it can
        // be undone alone; past 64 KiB that journal moves to a temporary file, created and
        // deleted by every 1000-row upsert. Kept in memory, it stays a buffer.
        .pragma("temp_store", "memory"))
}

/// Begins a write transaction holding the file's write lock from its first statement.
///
/// A deferred transaction that reads first (every sync reads `PRAGMA data_version`) and then
/// writes must upgrade its read lock, and SQLite answers an upgrade that meets another
/// process's write lock with "database is locked" at once, without waiting the busy timeout
/// (it could deadlock otherwise). `BEGIN IMMEDIATE` waits for the lock up to the busy timeout
/// instead. Guarded by `locks::a_write_waits_for_another_process_holding_the_lock`.
pub(super) async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    pub async fn open_with(url: &str, settings: &StoreOptions) -> Result<SqliteStore, StoreError> {
        let options = connect_options(url)?.busy_timeout(settings.busy_timeout);
        // An in-memory database (`sqlite://` with no path, `sqlite::memory:`, `mode=memory`)
        // is one per connection and lost with the server: the pools' other connections would
        // find no tables. Refused at start (`startup::a_database_url_without_a_file_is_refused`).
        let file = options.get_filename().as_os_str();
        if file.is_empty() || url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        let known = Arc::new(KnownRows::default());
        let forget = Arc::clone(&known);
        // A SQLite connection is a handle in this process that no network or server restart
        // can break, so it is not pinged at every acquire (a hand-off to sqlx's worker thread
        // and back before each transaction and each read).
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            // What is known is checked against the connection's data version, which another
            // connection numbers anew.
            .after_connect(move |_, _| {
                forget.clear();
                Box::pin(async { Ok(()) })
            })
            // A write that fails on the disk (full, or an I/O error) may be rolled back by
            // SQLite itself; the rollback sqlx then sends fails, and sqlx would count the
            // connection in a transaction for good, refusing every later `BEGIN`. Such a
            // connection is closed on its way back and the next write opens a new one
            // (`disk::a_full_disk_is_503_and_the_server_recovers`).
            .after_release(|conn, _| {
                Box::pin(async move {
                    if conn.is_in_transaction() {
                        // Runs the rollback queued when the transaction was dropped.
                        conn.ping().await?;
                    }
                    Ok(!conn.is_in_transaction())
                })
            })
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| startup::explain(&options, e))?;
        let migrator = sqlx::migrate!("migrations/sqlite");
        match migrator.run(&writer).await {
            Err(sqlx::migrate::MigrateError::Execute(e)) => Err(startup::explain(&options, e)),
            result => result.map_err(|e| super::migration_error(&migrator, e)),
        }?;
        startup::check_writable(&writer)
            .await
            .map_err(|e| startup::explain(&options, e))?;
        let reader = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        Ok(SqliteStore {
            _checkpointer: Checkpointer::start(options),
            committer: Committer::start(writer.clone(), Arc::clone(&known)),
            known,
            writer,
            reader,
            rate_windows: WindowCounter::default(),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self, access: Access) -> Result<Box<dyn Tx>, StoreError> {
        let tx = match access {
            Access::Read => self.reader.begin().await?,
            Access::Write => {
                let tx = begin_write(&self.writer).await?;
                // The floor's writes change rows the syncs remember (status, times).
                self.known.clear();
                tx
            }
            Access::Bookkeeping => begin_write(&self.writer).await?,
        };
        Ok(Box::new(tx::SqliteTx(tx, Default::default())))
    }

    /// Through the committer, which commits concurrent actions (and small syncs) together
    /// (decision 0005).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str(), ?machine, ?action))]
    async fn transition(
        &self,
        scope: Scope,
        machine: Machine,
        record: &RecordRef,
        action: Action,
        report: &Report,
    ) -> Result<Acted, StoreError> {
        let (target, report) = (record.clone(), report.clone());
        self.committer
            .act(scope, machine, target, action, report)
            .await
    }

    fn pool_state(&self) -> PoolState {
        let (size, idle) = [&self.reader, &self.writer]
            .iter()
            .fold((0, 0), |(size, idle), pool| {
                (size + pool.size(), idle + pool.num_idle() as u32)
            });
        PoolState {
            idle,
            active: size.saturating_sub(idle),
        }
    }

    fn autocommit(&self, access: Access) -> Box<dyn Statements + '_> {
        let pool = match access {
            Access::Read => &self.reader,
            Access::Write => {
                self.known.clear();
                &self.writer
            }
            Access::Bookkeeping => &self.writer,
        };
        Box::new(tx::SqliteAutocommit(pool))
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str(), ?finish, records = batch.len()))]
    async fn sync_recorded(
        &self,
        scope: Scope,
        batch: SyncBatch,
        finish: Finish,
        history: Option<HistoryDraft>,
    ) -> Result<Written, StoreError> {
        if batch.is_empty() {
            if let Some(history) = history {
                self.record_refused_call(scope, &history.entry(&[])).await?;
            }
            return Ok(Written::done(Vec::new()));
        }
        if finish == Finish::Commit {
            return self.committer.sync(scope, batch, history).await;
        }
        // A dry run's entry is written after the rollback, so it is kept.
        let mut tx = begin_write(&self.writer).await?;
        // A dry run writes no events.
        let (results, _) = group::write(&mut tx, scope, &batch, None, None, Finish::DryRun).await?;
        tx.rollback().await?;
        if let Some(history) = history {
            self.record_import(scope, &history.entry(&results)).await?;
        }
        Ok(Written::done(results))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str(), entity = entity.plural()))]
    async fn list(
        &self,
        scope: Scope,
        entity: Entity,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let mut connection = self.reader.acquire().await?;
        let mut reader = SqliteReader(&mut connection);
        read_page(&mut reader, Dialect::Sqlite, scope, entity, query).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str(), entity = entity.plural()))]
    async fn get(
        &self,
        scope: Scope,
        entity: Entity,
        target: &RecordRef,
        include_deleted: bool,
    ) -> Result<Option<RecordView>, StoreError> {
        if reads_a_tree(entity) {
            // One snapshot for the record and its children.
            let mut tx = self.reader.begin().await?;
            let mut reader = SqliteReader(&mut tx);
            let found = read_record(
                &mut reader,
                Dialect::Sqlite,
                scope,
                entity,
                target,
                include_deleted,
            );
            let found = found.await?;
            tx.commit().await?;
            Ok(found)
        } else {
            let mut connection = self.reader.acquire().await?;
            let mut reader = SqliteReader(&mut connection);
            read_record(
                &mut reader,
                Dialect::Sqlite,
                scope,
                entity,
                target,
                include_deleted,
            )
            .await
        }
    }

    async fn count_request(&self, key_id: Uuid, window: u64) -> Result<u32, StoreError> {
        Ok(self.rate_windows.count(key_id, window))
    }
}
