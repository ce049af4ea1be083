//! The server store for shared deployments: PostgreSQL through a connection pool. Several
//! server instances may share one database; writes rely on row locks and unique keys, not on
//! a single writer.

mod read;
mod sql;
mod sync;
mod tx;

use super::sync_events::record;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, PgPool, Row};
use uuid::Uuid;

use self::read::PostgresReader;
use self::sync::PostgresWriter;
use super::listing::Dialect;
use super::read::{get as read_record, list as read_page, reads_a_tree, timestamp_text};
use super::tx::Tx;
use super::{
    decode_mode, decode_scopes, existing_claim, free_later, lookup_of, minutes_ago, timestamp,
    Access, ApiKeyInfo, Claim, Finish, HistoryDraft, ImportEntry, ImportOutcome, ImportQuery,
    ImportRecord, ImportRow, ListQuery, Page, RecordRef, Store, StoreError, StoreOptions,
    StoredKey, Written, IDEMPOTENCY_HOURS, IDEMPOTENCY_STALE_MINUTES,
};
use crate::domain::api_key::{display_prefix, IssuedKey, KeyScopes, TenantSlug};
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

pub(super) fn parse_id(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
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

fn key_columns() -> String {
    format!(
        "SELECT k.id::text AS id, t.slug, k.name, k.mode, k.lookup, k.scopes, {} AS created_at, \
         {} AS last_used_at, {} AS revoked_at \
         FROM api_keys AS k JOIN tenants AS t ON t.id = k.tenant_id",
        timestamp_text("k.created_at"),
        timestamp_text("k.last_used_at"),
        timestamp_text("k.revoked_at"),
    )
}

fn key_info(row: &PgRow) -> Result<ApiKeyInfo, StoreError> {
    let text = |column: &str| row.try_get::<String, _>(column).map_err(StoreError::from);
    let optional = |column: &str| {
        row.try_get::<Option<String>, _>(column)
            .map_err(StoreError::from)
    };
    let mode = decode_mode(&text("mode")?)?;
    Ok(ApiKeyInfo {
        id: parse_id(&text("id")?)?,
        tenant: text("slug")?,
        name: optional("name")?,
        mode,
        prefix: display_prefix(mode, &text("lookup")?),
        scopes: decode_scopes(&text("scopes")?)?,
        created_at: text("created_at")?,
        last_used_at: optional("last_used_at")?,
        revoked_at: optional("revoked_at")?,
    })
}

impl PostgresStore {
    /// Re-analyzes tables that grew by a quarter or more since PostgreSQL last looked. Until
    /// then a freshly filled table (any initial load) looks tiny to the planner, which scans it
    /// once per batch row instead of using the identity index: 10 s per 1000 records at 100k
    /// rows. Autovacuum catches up only after a minute or more. This runs beside the request,
    /// not in its way (an ANALYZE took longer than the sync that asked for it), one at a time
    /// per table.
    fn keep_statistics_fresh(&self, created: &[(Entity, usize)]) {
        for &(entity, rows) in created {
            let slot = Entity::ALL
                .iter()
                .position(|e| *e == entity)
                .expect("listed");
            let table = &self.statistics[slot];
            let known = table.known_rows.load(Ordering::Acquire);
            if rows == 0
                || (rows as u64) * 4 < known
                || table.refreshing.swap(true, Ordering::AcqRel)
            {
                continue;
            }
            let pool = self.pool.clone();
            let statistics = self.statistics.clone();
            tokio::spawn(async move {
                let table = &statistics[slot];
                match analyze_if_grown(&pool, entity, rows).await {
                    Ok(known) => table.known_rows.store(known, Ordering::Release),
                    Err(error) => {
                        tracing::warn!(%error, table = entity.plural(), "could not refresh statistics")
                    }
                }
                table.refreshing.store(false, Ordering::Release);
            });
        }
    }

    async fn key_by_id(&self, id: &str) -> Result<Option<ApiKeyInfo>, StoreError> {
        sqlx::query(&format!("{} WHERE k.id = $1::uuid", key_columns()))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(key_info)
            .transpose()
    }
}

/// A table's statistics as this process last saw them.
#[derive(Default)]
struct TableStatistics {
    refreshing: AtomicBool,
    /// The planner's row estimate (`pg_class.reltuples`) when last read.
    known_rows: AtomicU64,
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

/// Appends an entry to the tenant's sync history, on its own or inside a sync's transaction.
async fn insert_import<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Postgres>,
    scope: Scope,
    entry: &ImportEntry,
) -> Result<(), StoreError> {
    super::bind_import(
        sqlx::query(
            "INSERT INTO sync_imports (id, tenant_id, mode, key_id, endpoint, entity, sources, \
             dry_run, status, total, created, updated, unchanged, errors, error_details, \
             duration_ms, request_id, created_at) \
             VALUES ($1::uuid, $2::uuid, $3, $4::uuid, $5, $6, $7::json, $8, $9::integer, \
             $10::integer, $11::integer, $12::integer, $13::integer, $14::integer, $15::json, \
             $16, $17, $18::timestamptz)",
        ),
        scope,
        entry,
    )
    .execute(executor)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn begin(&self, _access: Access) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(tx::PgTx(self.pool.begin().await?)))
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
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
        };
        let (results, entry) =
            record(&mut writer, scope, &batch, history.as_ref(), finish, &now).await?;
        let created = std::mem::take(&mut writer.created);
        match finish {
            Finish::Commit => {
                if let Some(entry) = entry {
                    insert_import(&mut *tx, scope, &entry).await?;
                }
                tx.commit().await?
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
        free_later(batch);
        Ok(Written::done(results))
    }

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

    async fn create_api_key(
        &self,
        tenant: &TenantSlug,
        name: Option<&str>,
        key: &IssuedKey,
        scopes: KeyScopes,
    ) -> Result<ApiKeyInfo, StoreError> {
        let now = timestamp();
        let mut tx = self.pool.begin().await?;
        // A tenant created concurrently makes this wait, then skip; the next statement of
        // this READ COMMITTED transaction sees it.
        sqlx::query(
            "INSERT INTO tenants (id, slug, created_at) VALUES ($1::uuid, $2, $3::timestamptz) \
             ON CONFLICT (slug) DO NOTHING",
        )
        .bind(Uuid::now_v7().hyphenated().to_string())
        .bind(tenant.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let key_id = Uuid::now_v7().hyphenated().to_string();
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, mode, lookup, hash, created_at, scopes) \
             SELECT $1::uuid, id, $3, $4, $5, $6, $7::timestamptz, $8 FROM tenants WHERE slug = $2",
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
            "{} WHERE $1::text IS NULL OR t.slug = $1::text ORDER BY k.id",
            key_columns()
        ))
        .bind(tenant.map(TenantSlug::as_str))
        .fetch_all(&self.pool)
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
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id::text FROM api_keys WHERE substr(lookup, 1, $2) = $1",
                )
                .bind(lookup)
                .bind(lookup.len() as i32)
                .fetch_all(&self.pool)
                .await?;
                match ids.as_slice() {
                    [id] => id.clone(),
                    [] => return Err(not_found()),
                    _ => return Err(StoreError::KeyAmbiguous(id_or_prefix.to_owned())),
                }
            }
        };
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2::timestamptz) \
             WHERE id = $1::uuid",
        )
        .bind(&id)
        .bind(timestamp())
        .execute(&self.pool)
        .await?;
        if revoked.rows_affected() == 0 {
            return Err(not_found());
        }
        self.key_by_id(&id).await?.ok_or_else(not_found)
    }

    async fn find_api_key(&self, lookup: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id::text AS id, tenant_id::text AS tenant_id, mode, hash, \
             revoked_at IS NOT NULL AS revoked, scopes FROM api_keys WHERE lookup = $1",
        )
        .bind(lookup)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let get = |column: &str| row.try_get::<String, _>(column).map_err(StoreError::from);
        Ok(Some(StoredKey {
            id: parse_id(&get("id")?)?,
            tenant_id: parse_id(&get("tenant_id")?)?,
            mode: decode_mode(&get("mode")?)?,
            hash: get("hash")?,
            revoked: row.try_get("revoked")?,
            scopes: decode_scopes(&get("scopes")?)?,
        }))
    }

    async fn touch_api_key(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2::timestamptz WHERE id = $1::uuid")
            .bind(id.hyphenated().to_string())
            .bind(timestamp())
            .execute(&self.pool)
            .await?;
        Ok(())
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

    async fn record_import(&self, scope: Scope, entry: &ImportEntry) -> Result<(), StoreError> {
        insert_import(&self.pool, scope, entry).await
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
            "SELECT {columns}, NULL::text AS error_details FROM sync_imports AS i \
             WHERE {IMPORT_FILTERS} ORDER BY i.id DESC LIMIT $6 OFFSET $7",
            columns = import_columns()
        ))
        .bind(&tenant)
        .bind(scope.mode.as_str())
        .bind(entity)
        .bind(query.since.as_deref())
        .bind(outcome)
        .bind(i64::from(query.limit))
        .bind(i64::from(query.offset))
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM sync_imports AS i WHERE {IMPORT_FILTERS}"
        ))
        .bind(&tenant)
        .bind(scope.mode.as_str())
        .bind(entity)
        .bind(query.since.as_deref())
        .bind(outcome)
        .fetch_one(&self.pool)
        .await?;
        let records = rows
            .into_iter()
            .map(ImportRecord::try_from)
            .collect::<Result<_, _>>()?;
        Ok((records, total as u64))
    }

    async fn get_import(&self, scope: Scope, id: Uuid) -> Result<Option<ImportRecord>, StoreError> {
        let row: Option<ImportRow> = sqlx::query_as(&format!(
            "SELECT {columns}, i.error_details::text AS error_details FROM sync_imports AS i \
             WHERE i.tenant_id = $1::uuid AND i.mode = $2 AND i.id = $3::uuid",
            columns = import_columns()
        ))
        .bind(scope.tenant_id.hyphenated().to_string())
        .bind(scope.mode.as_str())
        .bind(id.hyphenated().to_string())
        .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        // Taking over an expired or abandoned key is one conditional UPDATE, so of two
        // instances racing for it exactly one wins.
        let taken_over = sqlx::query(
            "UPDATE idempotency_keys SET request_hash = $3, response_status = NULL, \
             response_body = NULL, created_at = $4::timestamptz \
             WHERE key_id = $1::uuid AND idempotency_key = $2 \
               AND (created_at < $5::timestamptz \
                    OR (response_status IS NULL AND created_at < $6::timestamptz))",
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
             VALUES ($1::uuid, $2, $3, $4::timestamptz) ON CONFLICT DO NOTHING",
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
            let (stored_hash, status, body): (String, Option<i32>, Option<Vec<u8>>) =
                sqlx::query_as(
                    "SELECT request_hash, response_status, response_body FROM idempotency_keys \
                     WHERE key_id = $1::uuid AND idempotency_key = $2",
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
            "UPDATE idempotency_keys SET response_status = $3::integer, response_body = $4 \
             WHERE key_id = $1::uuid AND idempotency_key = $2",
        )
        .bind(key_id.hyphenated().to_string())
        .bind(idempotency_key)
        .bind(i64::from(status))
        .bind(body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE key_id = $1::uuid AND idempotency_key = $2",
        )
        .bind(key_id.hyphenated().to_string())
        .bind(idempotency_key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Binds tenant, mode, entity, since and outcome (`ImportOutcome::as_str`), in that order.
const IMPORT_FILTERS: &str =
    "i.tenant_id = $1::uuid AND i.mode = $2 AND ($3::text IS NULL OR i.entity = $3::text) \
     AND ($4::text IS NULL OR i.created_at >= $4::timestamptz) \
     AND ($5::text IS NULL OR ($5::text = 'clean' AND i.errors = 0 AND i.status < 400) \
       OR ($5::text = 'rejected' AND i.errors > 0) OR ($5::text = 'failed' AND i.status >= 400))";

/// The history columns as text and 64-bit integers, the types `ImportRow` reads.
fn import_columns() -> String {
    format!(
        "i.id::text AS id, i.endpoint, i.entity, i.key_id::text AS key_id, i.sources::text AS sources, \
         i.dry_run, i.status::bigint AS status, i.total::bigint AS total, \
         i.created::bigint AS created, i.updated::bigint AS updated, \
         i.unchanged::bigint AS unchanged, i.errors::bigint AS errors, i.duration_ms, \
         i.request_id, {} AS created_at",
        timestamp_text("i.created_at")
    )
}
