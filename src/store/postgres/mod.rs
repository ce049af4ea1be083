//! The server store for shared deployments: PostgreSQL through a connection pool. Several
//! server instances may share one database; writes rely on row locks and unique keys, not on
//! a single writer.

mod batch;
mod read;
mod sql;
mod sync;
mod tx;

use super::sync_events::record;
use crate::store::PoolState;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use uuid::Uuid;

use self::read::PostgresReader;
use self::sync::PostgresWriter;
use super::listing::Dialect;
use super::read::{get as read_record, list as read_page, reads_a_tree};
use super::tx::{Statements, Tx};
use super::{
    free_later, timestamp, Access, Finish, HistoryDraft, ListQuery, Page, RecordRef, Store,
    StoreError, StoreOptions, Written,
};
use crate::domain::outcome::RecordResult;
use crate::domain::record::SyncBatch;
use crate::domain::schema::Kind;
use crate::domain::view::RecordView;
use crate::domain::{Entity, Scope};

pub struct PostgresStore {
    pool: PgPool,
    /// Per entity: what this process knows of its table's statistics.
    statistics: Arc<[TableStatistics; 5]>,
    /// Whether `search` can fold case in every script (`listing::Dialect::Postgres`).
    icu: bool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<PostgresStore, StoreError> {
        let mut connect = PgConnectOptions::from_str(url)?;
        if let Some(timeout) = options.statement_timeout {
            connect = connect.options([(
                "statement_timeout",
                format!("{}ms", timeout.as_millis().max(1)),
            )]);
        }
        // Migrations run on a connection of their own: sqlx holds a session advisory lock
        // while it migrates (so instances starting together take turns) and does not release
        // it when a migration fails; closing the connection always does.
        let mut conn = connect.connect().await?;
        let migrator = sqlx::migrate!("migrations/postgres");
        (migrator.run(&mut conn).await).map_err(|e| super::migration_error(&migrator, e))?;
        conn.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        let icu: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')",
        )
        .fetch_one(&pool)
        .await?;
        if !icu {
            tracing::warn!(
                "this PostgreSQL server was built without ICU: `search` ignores case for ASCII \
                 letters only"
            );
        }
        Ok(PostgresStore {
            pool,
            statistics: Arc::new(Default::default()),
            icu,
        })
    }
}

impl PostgresStore {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres { icu: self.icu }
    }

    fn reader<'c>(&self, connection: &'c mut sqlx::PgConnection) -> PostgresReader<'c> {
        PostgresReader {
            connection,
            dialect: self.dialect(),
        }
    }
}

impl PostgresStore {
    /// Re-analyzes tables that grew by a quarter or more since PostgreSQL last looked. Until
    /// then a freshly filled table (any initial load) looks tiny to the planner, which scans it
    /// once per batch row instead of using the identity index: 10 s per 1000 records at 100k
    /// rows. Autovacuum catches up only after a minute or more. Rows are counted across syncs,
    /// so that single PUTs into a new table refresh it too: a plan a connection cached while
    /// the table held a few rows read every row of it for each PUT (9–14 ms at 4 000 jobs,
    /// bench figure `put_c1` run alone on a fresh database). This runs beside the request,
    /// not in its way (an ANALYZE took longer than the sync that asked for it), one at a time
    /// per table.
    fn keep_statistics_fresh(&self, created: &[(Entity, usize)]) {
        for &(entity, rows) in created {
            let slot = Entity::ALL
                .iter()
                .position(|e| *e == entity)
                .expect("listed");
            let table = &self.statistics[slot];
            if rows == 0 {
                continue;
            }
            let grown = table.grown.fetch_add(rows as u64, Ordering::AcqRel) + rows as u64;
            let known = table.known_rows.load(Ordering::Acquire);
            if grown * 4 < known || table.refreshing.swap(true, Ordering::AcqRel) {
                continue;
            }
            let pool = self.pool.clone();
            let statistics = self.statistics.clone();
            tokio::spawn(async move {
                let table = &statistics[slot];
                let grown = table.grown.load(Ordering::Acquire);
                match analyze_if_grown(&pool, entity, grown as usize).await {
                    Ok(known) => {
                        table.known_rows.store(known, Ordering::Release);
                        table.grown.fetch_sub(grown, Ordering::AcqRel);
                    }
                    Err(error) => {
                        tracing::warn!(%error, table = entity.plural(), "could not refresh statistics")
                    }
                }
                table.refreshing.store(false, Ordering::Release);
            });
        }
    }
}

/// A table's statistics as this process last saw them.
#[derive(Default)]
struct TableStatistics {
    refreshing: AtomicBool,
    /// The planner's row estimate (`pg_class.reltuples`) when last read.
    known_rows: AtomicU64,
    /// Rows this process created since the statistics were last refreshed.
    grown: AtomicU64,
}

/// The columns a sync finds an entity's rows by: its key, soft deletion, its references and a
/// cell's name. Analyzing only these refreshes the row count and the statistics the sync's
/// plans depend on at a sixth of the cost (4.5 against 30 ms for 10 000 jobs): the analysis
/// runs beside the syncs that follow it, on the same cores.
fn searched_columns(entity: Entity) -> String {
    let mut columns = vec![
        "tenant_id",
        "mode",
        "external_source",
        "external_id",
        "deleted_at",
    ];
    columns.extend(
        entity
            .columns()
            .iter()
            .filter(|c| matches!(c.kind, Kind::Reference(_)))
            .map(|c| c.name),
    );
    if entity == Entity::Cells {
        columns.extend(["name", "active"]);
    }
    columns.join(", ")
}

/// Analyzes `entity`'s table if `rows` new rows are a quarter or more of what the planner
/// believes it holds, and answers that belief.
async fn analyze_if_grown(pool: &PgPool, entity: Entity, rows: usize) -> Result<u64, sqlx::Error> {
    let table = entity.plural();
    let estimate = || {
        sqlx::query_scalar::<_, f32>("SELECT reltuples FROM pg_class WHERE oid = $1::regclass")
            .bind(table)
            .fetch_one(pool)
    };
    let known = estimate().await?;
    if known >= 0.0 && (rows as f32) * 4.0 < known {
        return Ok(known as u64);
    }
    // These columns hold a few values (tenant, mode, source) or many (external ids,
    // references), which a tenth of the usual sample describes well enough for the sync's
    // plans: 1.5 instead of 4 ms for 10 000 jobs. Autovacuum's later analysis takes the full
    // sample.
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL default_statistics_target = 10")
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("ANALYZE {table} ({})", searched_columns(entity)))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(estimate().await?.max(0.0) as u64)
}

#[async_trait]
impl Store for PostgresStore {
    async fn begin(&self, _access: Access) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(tx::PgTx(
            self.pool.begin().await?,
            Default::default(),
        )))
    }

    fn pool_state(&self) -> PoolState {
        let idle = self.pool.num_idle() as u32;
        PoolState {
            idle,
            active: self.pool.size().saturating_sub(idle),
        }
    }

    fn autocommit(&self, _access: Access) -> Box<dyn Statements + '_> {
        Box::new(tx::PgAutocommit(&self.pool))
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
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
        let results = super::retry::on_write_conflict(|| {
            self.sync_attempt(scope, &batch, finish, history.as_ref())
        })
        .await?;
        free_later(batch);
        Ok(Written::done(results))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str(), entity = entity.plural()))]
    async fn list(
        &self,
        scope: Scope,
        entity: Entity,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let mut connection = self.pool.acquire().await?;
        let mut reader = self.reader(&mut connection);
        read_page(&mut reader, self.dialect(), scope, entity, query).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str(), entity = entity.plural()))]
    async fn get(
        &self,
        scope: Scope,
        entity: Entity,
        target: &RecordRef,
        include_deleted: bool,
    ) -> Result<Option<RecordView>, StoreError> {
        let dialect = self.dialect();
        if reads_a_tree(entity) {
            // One snapshot for the record and its children.
            let mut tx = self
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?;
            let mut reader = self.reader(&mut tx);
            let found = read_record(&mut reader, dialect, scope, entity, target, include_deleted);
            let found = found.await?;
            tx.commit().await?;
            Ok(found)
        } else {
            let mut connection = self.pool.acquire().await?;
            let mut reader = self.reader(&mut connection);
            read_record(&mut reader, dialect, scope, entity, target, include_deleted).await
        }
    }

    async fn count_request(&self, key_id: Uuid, window: u64) -> Result<u32, StoreError> {
        // One row per key and minute, incremented atomically: every instance on this
        // database shares the same budget.
        let requests: i32 = sqlx::query_scalar(
            "INSERT INTO rate_limit_windows (key_id, window_start, requests) VALUES ($1::uuid, $2, 1) \
             ON CONFLICT (key_id, window_start) \
             DO UPDATE SET requests = rate_limit_windows.requests + 1 \
             RETURNING requests",
        )
        .bind(key_id.hyphenated().to_string())
        .bind(window as i64)
        .fetch_one(&self.pool)
        .await
        ?;
        if requests == 1 {
            sqlx::query(
                "DELETE FROM rate_limit_windows WHERE key_id = $1::uuid AND window_start < $2",
            )
            .bind(key_id.hyphenated().to_string())
            .bind(window as i64)
            .execute(&self.pool)
            .await?;
        }
        Ok(requests.max(0) as u32)
    }
}

impl PostgresStore {
    /// One run of a sync in its own transaction.
    async fn sync_attempt(
        &self,
        scope: Scope,
        batch: &SyncBatch,
        finish: Finish,
        history: Option<&HistoryDraft>,
    ) -> Result<Vec<RecordResult>, StoreError> {
        // Explicit, because the upserts are written for READ COMMITTED: each statement must
        // see rows other transactions committed while this one waited on them.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        let now = timestamp();
        let mut writer = PostgresWriter {
            conn: &mut tx,
            scope,
            now: now.clone(),
            created: Vec::new(),
            written: Vec::new(),
            before: Vec::new(),
        };
        let (results, entry, appended) =
            record(&mut writer, scope, batch, history, finish, &now).await?;
        let created = std::mem::take(&mut writer.created);
        match finish {
            Finish::Commit => {
                tx.commit().await?;
                appended.committed();
            }
            Finish::DryRun => {
                tx.rollback().await?;
                if let Some(entry) = entry {
                    self.record_import(scope, &entry).await?;
                }
            }
        }
        if finish == Finish::Commit {
            self.keep_statistics_fresh(&created);
        }
        Ok(results)
    }
}
