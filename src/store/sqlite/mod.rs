//! The embedded default store: one SQLite file in WAL mode, one writer connection (SQLite
//! serializes writers anyway; queueing them in the pool avoids busy retries) and a few readers.

mod checkpoint;
mod encode;
mod group;
mod known;
mod look;
mod overlap;
mod plan;
mod read;
mod recall;
mod sql;
mod startup;
mod sync;
mod tx;
mod upsert;
mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use self::checkpoint::Checkpointer;
use self::group::Committer;
use self::known::KnownRows;
use self::read::SqliteReader;
use super::listing::Dialect;
use super::read::{get as read_record, list as read_page, reads_a_tree};
use super::tx::Tx;
use super::{
    decode_mode, decode_scopes, existing_claim, lookup_of, minutes_ago, timestamp, Access,
    ApiKeyInfo, Claim, Finish, HistoryDraft, ImportEntry, ImportOutcome, ImportQuery, ImportRecord,
    ImportRow, ListQuery, Page, RecordRef, Store, StoreError, StoreOptions, StoredKey,
    WindowCounter, Written, IDEMPOTENCY_HOURS, IDEMPOTENCY_STALE_MINUTES,
};
use crate::domain::api_key::{display_prefix, IssuedKey, KeyScopes, TenantSlug};
use crate::domain::record::SyncBatch;
use crate::domain::view::RecordView;
use crate::domain::{Entity, Scope};

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

fn parse_id(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

const KEY_COLUMNS: &str = "SELECT k.id, t.slug, k.name, k.mode, k.lookup, k.scopes, \
    k.created_at, k.last_used_at, k.revoked_at FROM api_keys AS k JOIN tenants AS t ON t.id = k.tenant_id";

fn key_info(row: &sqlx::sqlite::SqliteRow) -> Result<ApiKeyInfo, StoreError> {
    let mode = decode_mode(row.try_get("mode")?)?;
    let lookup: String = row.try_get("lookup")?;
    Ok(ApiKeyInfo {
        id: parse_id(row.try_get("id")?)?,
        tenant: row.try_get("slug")?,
        name: row.try_get("name")?,
        mode,
        prefix: display_prefix(mode, &lookup),
        scopes: decode_scopes(row.try_get("scopes")?)?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl SqliteStore {
    async fn key_by_id(&self, id: &str) -> Result<Option<ApiKeyInfo>, StoreError> {
        sqlx::query(&format!("{KEY_COLUMNS} WHERE k.id = ?1"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(key_info)
            .transpose()
    }
}

/// Appends an entry to the tenant's sync history, on its own or inside a sync's transaction.
async fn insert_import<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
    scope: Scope,
    entry: &ImportEntry,
) -> Result<(), StoreError> {
    super::bind_import(sqlx::query(
            "INSERT INTO sync_imports (id, tenant_id, mode, key_id, endpoint, entity, sources, \
             dry_run, status, total, created, updated, unchanged, errors, error_details, \
             duration_ms, request_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        ), scope, entry)
.execute(executor)
        .await?;
    Ok(())
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
        };
        Ok(Box::new(tx::SqliteTx(tx)))
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn sync_recorded(
        &self,
        scope: Scope,
        batch: SyncBatch,
        finish: Finish,
        history: Option<HistoryDraft>,
    ) -> Result<Written, StoreError> {
        if batch.is_empty() {
            if let Some(history) = history {
                self.record_import(scope, &history.entry(&[])).await?;
            }
            return Ok(Written::done(Vec::new()));
        }
        if finish == Finish::Commit {
            return self.committer.sync(scope, batch, history).await;
        }
        // A dry run's entry is written after the rollback, so it is kept.
        let mut tx = begin_write(&self.writer).await?;
        let results = group::write(&mut tx, scope, &batch, None, None, Finish::DryRun).await?;
        tx.rollback().await?;
        if let Some(history) = history {
            self.record_import(scope, &history.entry(&results)).await?;
        }
        Ok(Written::done(results))
    }

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

    async fn create_api_key(
        &self,
        tenant: &TenantSlug,
        name: Option<&str>,
        key: &IssuedKey,
        scopes: KeyScopes,
    ) -> Result<ApiKeyInfo, StoreError> {
        let now = timestamp();
        let mut tx = begin_write(&self.writer).await?;
        sqlx::query(
            "INSERT INTO tenants (id, slug, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (slug) DO NOTHING",
        )
        .bind(Uuid::now_v7().hyphenated().to_string())
        .bind(tenant.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let key_id = Uuid::now_v7().hyphenated().to_string();
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, mode, lookup, hash, created_at, scopes) \
             SELECT ?1, id, ?3, ?4, ?5, ?6, ?7, ?8 FROM tenants WHERE slug = ?2",
        )
        .bind(&key_id)
        .bind(tenant.as_str())
        .bind(name)
        .bind(key.mode.as_str())
        .bind(&key.lookup)
        .bind(&key.hash)
        .bind(&now)
        .bind(scopes.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.key_by_id(&key_id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    async fn list_api_keys(
        &self,
        tenant: Option<&TenantSlug>,
    ) -> Result<Vec<ApiKeyInfo>, StoreError> {
        sqlx::query(&format!(
            "{KEY_COLUMNS} WHERE ?1 IS NULL OR t.slug = ?1 ORDER BY k.id"
        ))
        .bind(tenant.map(TenantSlug::as_str))
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(key_info)
        .collect()
    }

    async fn revoke_api_key(&self, id_or_prefix: &str) -> Result<ApiKeyInfo, StoreError> {
        let not_found = || StoreError::KeyNotFound(id_or_prefix.to_owned());
        let id = match Uuid::parse_str(id_or_prefix) {
            Ok(id) => id.hyphenated().to_string(),
            Err(_) => {
                let lookup = lookup_of(id_or_prefix).ok_or_else(not_found)?;
                let ids: Vec<String> =
                    sqlx::query_scalar("SELECT id FROM api_keys WHERE substr(lookup, 1, ?2) = ?1")
                        .bind(lookup)
                        .bind(lookup.len() as i64)
                        .fetch_all(&self.reader)
                        .await?;
                match ids.as_slice() {
                    [id] => id.clone(),
                    [] => return Err(not_found()),
                    _ => return Err(StoreError::KeyAmbiguous(id_or_prefix.to_owned())),
                }
            }
        };
        let revoked =
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")
                .bind(&id)
                .bind(timestamp())
                .execute(&self.writer)
                .await?;
        if revoked.rows_affected() == 0 {
            return Err(not_found());
        }
        self.key_by_id(&id).await?.ok_or_else(not_found)
    }

    async fn find_api_key(&self, lookup: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, mode, hash, revoked_at IS NOT NULL AS revoked, scopes \
             FROM api_keys WHERE lookup = ?1",
        )
        .bind(lookup)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredKey {
            id: parse_id(row.try_get("id")?)?,
            tenant_id: parse_id(row.try_get("tenant_id")?)?,
            mode: decode_mode(row.try_get("mode")?)?,
            hash: row.try_get("hash")?,
            revoked: row.try_get("revoked")?,
            scopes: decode_scopes(row.try_get("scopes")?)?,
        }))
    }

    async fn touch_api_key(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")
            .bind(id.hyphenated().to_string())
            .bind(timestamp())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn count_request(&self, key_id: Uuid, window: u64) -> Result<u32, StoreError> {
        Ok(self.rate_windows.count(key_id, window))
    }

    async fn record_import(&self, scope: Scope, entry: &ImportEntry) -> Result<(), StoreError> {
        insert_import(&self.writer, scope, entry).await
    }

    async fn list_imports(
        &self,
        scope: Scope,
        query: &ImportQuery,
    ) -> Result<(Vec<ImportRecord>, u64), StoreError> {
        let tenant = scope.tenant_id.hyphenated().to_string();
        let entity = query.entity.map(Entity::plural);
        let outcome = query.outcome.map(ImportOutcome::as_str);
        let rows: Vec<ImportRow> = sqlx::query_as(&format!(
            "SELECT {IMPORT_COLUMNS}, NULL AS error_details FROM sync_imports AS i \
             WHERE {IMPORT_FILTERS} ORDER BY i.id DESC LIMIT ?6 OFFSET ?7"
        ))
        .bind(&tenant)
        .bind(scope.mode.as_str())
        .bind(entity)
        .bind(query.since.as_deref())
        .bind(outcome)
        .bind(query.limit)
        .bind(query.offset)
        .fetch_all(&self.reader)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM sync_imports AS i WHERE {IMPORT_FILTERS}"
        ))
        .bind(&tenant)
        .bind(scope.mode.as_str())
        .bind(entity)
        .bind(query.since.as_deref())
        .bind(outcome)
        .fetch_one(&self.reader)
        .await?;
        let records = rows
            .into_iter()
            .map(ImportRecord::try_from)
            .collect::<Result<_, _>>()?;
        Ok((records, total as u64))
    }

    async fn get_import(&self, scope: Scope, id: Uuid) -> Result<Option<ImportRecord>, StoreError> {
        let row: Option<ImportRow> = sqlx::query_as(&format!(
            "SELECT {IMPORT_COLUMNS}, i.error_details FROM sync_imports AS i \
             WHERE i.tenant_id = ?1 AND i.mode = ?2 AND i.id = ?3"
        ))
        .bind(scope.tenant_id.hyphenated().to_string())
        .bind(scope.mode.as_str())
        .bind(id.hyphenated().to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.map(ImportRecord::try_from).transpose()
    }

    async fn claim_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
        request_hash: &str,
    ) -> Result<Claim, StoreError> {
        let key_id = key_id.hyphenated().to_string();
        let now = timestamp();
        let mut tx = begin_write(&self.writer).await?;
        let taken_over = sqlx::query(
            "UPDATE idempotency_keys SET request_hash = ?3, response_status = NULL, \
             response_body = NULL, created_at = ?4 \
             WHERE key_id = ?1 AND idempotency_key = ?2 \
               AND (created_at < ?5 OR (response_status IS NULL AND created_at < ?6))",
        )
        .bind(&key_id)
        .bind(idempotency_key)
        .bind(request_hash)
        .bind(&now)
        .bind(minutes_ago(IDEMPOTENCY_HOURS * 60))
        .bind(minutes_ago(IDEMPOTENCY_STALE_MINUTES))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (key_id, idempotency_key, request_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )
        .bind(&key_id)
        .bind(idempotency_key)
        .bind(request_hash)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let claim = if taken_over + inserted > 0 {
            Claim::Fresh
        } else {
            let (stored_hash, status, body): (String, Option<i64>, Option<Vec<u8>>) =
                sqlx::query_as(
                    "SELECT request_hash, response_status, response_body FROM idempotency_keys \
                     WHERE key_id = ?1 AND idempotency_key = ?2",
                )
                .bind(&key_id)
                .bind(idempotency_key)
                .fetch_one(&mut *tx)
                .await?;
            let response = status.map(|s| (s as u16, body.unwrap_or_default()));
            existing_claim(request_hash, &stored_hash, response)
        };
        tx.commit().await?;
        Ok(claim)
    }

    async fn complete_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency_keys SET response_status = ?3, response_body = ?4 \
             WHERE key_id = ?1 AND idempotency_key = ?2",
        )
        .bind(key_id.hyphenated().to_string())
        .bind(idempotency_key)
        .bind(i64::from(status))
        .bind(body)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key_id = ?1 AND idempotency_key = ?2")
            .bind(key_id.hyphenated().to_string())
            .bind(idempotency_key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

/// Binds tenant, mode, entity, since and outcome (`ImportOutcome::as_str`), in that order.
const IMPORT_FILTERS: &str = "i.tenant_id = ?1 AND i.mode = ?2 AND (?3 IS NULL OR i.entity = ?3) \
    AND (?4 IS NULL OR i.created_at >= ?4) \
    AND (?5 IS NULL OR (?5 = 'clean' AND i.errors = 0 AND i.status < 400) \
      OR (?5 = 'rejected' AND i.errors > 0) OR (?5 = 'failed' AND i.status >= 400))";
const IMPORT_COLUMNS: &str = "i.id, i.endpoint, i.entity, i.key_id, i.sources, i.dry_run, i.status, \
    i.total, i.created, i.updated, i.unchanged, i.errors, i.duration_ms, i.request_id, i.created_at";
