//! Persistence: one trait of domain operations, one implementation per database engine.

mod delete;
mod error;
pub mod events;
pub mod floor;
pub mod listing;
pub mod postgres;
pub mod quantities;
mod read;
mod replace;
pub mod sqlite;
mod sync;
pub(crate) mod sync_events;
pub mod tx;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

use crate::domain::api_key::{IssuedKey, KeyScopes, TenantSlug};
use crate::domain::outcome::RecordResult;
use crate::domain::record::SyncBatch;
use crate::domain::view::RecordView;
use crate::domain::{Entity, Mode, Scope};

pub use crate::domain::history::{HistoryDraft, ImportEntry, ImportOutcome, ImportRecord};
pub(crate) use error::migration_error;
pub use error::StoreError;
pub use events::{Feed, FeedQuery};
pub use floor::Acted;
pub use listing::Sort;
pub(crate) use sync::SyncWriter;
pub use sync::{free_later, Found, Retired, UpsertRow};

use crate::domain::event::Event;
use crate::domain::floor::{Action, Machine, Report};
use crate::domain::progress::TimeEntry;
use crate::domain::quantity::{NewReport, QuantityReport, Reported};
use tx::Tx;

/// What a transaction opened by [`Store::begin`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// How a sync transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Commit,
    /// Roll back: report what the sync would do, write nothing.
    DryRun,
}

/// An API key as listed to an operator; never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub tenant: String,
    pub name: Option<String>,
    pub mode: Mode,
    pub prefix: String,
    pub scopes: KeyScopes,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What the server needs to check a presented key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub mode: Mode,
    pub hash: String,
    pub revoked: bool,
    pub scopes: KeyScopes,
}

/// Filters of a list request, already checked by the caller.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub external_source: Option<String>,
    /// Any of these external ids; empty for all.
    pub external_ids: Vec<String>,
    /// Case-insensitive text in the entity's names and numbers.
    pub search: Option<String>,
    pub status: Option<String>,
    /// Changed at or after this stored timestamp.
    pub updated_since: Option<String>,
    /// Parts of the job with this external id.
    pub job_external_id: Option<String>,
    /// Operations of the part with this external id.
    pub part_external_id: Option<String>,
    /// Operations in the cell with this name.
    pub cell_name: Option<String>,
    pub sort: Sort,
    /// Start after the record with this id (cursor walking).
    pub after: Option<Uuid>,
    pub limit: u32,
    pub offset: u32,
    /// Show deleted records too, with their `deleted_at`.
    pub include_deleted: bool,
}

/// One record, named by our id or by the ERP's key.
#[derive(Debug, Clone)]
pub enum RecordRef {
    Id(Uuid),
    External { source: String, external_id: String },
}

/// A sync-history entry as engines read it: ids, JSON and times already as text.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ImportRow {
    id: String,
    endpoint: String,
    entity: String,
    key_id: String,
    sources: String,
    dry_run: bool,
    status: i64,
    total: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    errors: i64,
    duration_ms: i64,
    request_id: Option<String>,
    created_at: String,
    error_details: Option<String>,
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(Box::new(error)))
}

impl TryFrom<ImportRow> for ImportRecord {
    type Error = StoreError;

    fn try_from(row: ImportRow) -> Result<Self, StoreError> {
        let count = |n: i64| n.max(0) as u64;
        Ok(ImportRecord {
            id: Uuid::parse_str(&row.id).map_err(decode_error)?,
            endpoint: row.endpoint,
            entity: row.entity,
            key_id: Uuid::parse_str(&row.key_id).map_err(decode_error)?,
            sources: serde_json::from_str(&row.sources).map_err(decode_error)?,
            dry_run: row.dry_run,
            status: row.status.clamp(0, 999) as u16,
            total: count(row.total),
            created: count(row.created),
            updated: count(row.updated),
            unchanged: count(row.unchanged),
            errors: count(row.errors),
            duration_ms: count(row.duration_ms),
            request_id: row.request_id,
            created_at: row.created_at,
            error_details: row
                .error_details
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(decode_error)?,
        })
    }
}

/// Filters of the sync history.
#[derive(Debug, Clone, Default)]
pub struct ImportQuery {
    pub entity: Option<Entity>,
    /// Only calls with this outcome.
    pub outcome: Option<ImportOutcome>,
    /// Only calls made at or after this stored timestamp.
    pub since: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// What an `Idempotency-Key` says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use (or the last use expired): run the request, then store its answer.
    Fresh,
    /// Answered before: send that answer again.
    Replay { status: u16, body: Vec<u8> },
    /// Used before for a different request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_HOURS: i64 = 24;
/// After how long a request that never finished (its client went away mid-flight) no longer
/// holds its key.
pub const IDEMPOTENCY_STALE_MINUTES: i64 = 5;

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// No live record has that id or key.
    NotFound,
    /// A cell that live operations still run in stays.
    InUse { operations: u64 },
    /// The floor has worked on the record or on what it would take along (`operation O-10`).
    FloorWorked { records: Vec<String> },
    /// The record is deleted, with the children it took along.
    Deleted {
        id: Uuid,
        external_id: String,
        parts: u64,
        operations: u64,
    },
}

/// One page of records.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<RecordView>,
    pub total: u64,
    /// The id of the page's last record.
    pub last_id: Option<Uuid>,
}

/// A sync's results, handed over as soon as they are known, and its commit.
#[must_use = "a sync is durable only once its commit is"]
pub struct Written {
    pub results: Vec<RecordResult>,
    pub commit: Commit,
}

impl Written {
    /// Results of a sync whose transaction has already ended.
    pub fn done(results: Vec<RecordResult>) -> Written {
        Written {
            results,
            commit: Commit(None),
        }
    }
}

/// The commit of a sync's transaction, which may still be running: a caller prepares its
/// answer from the results meanwhile (SQLite's COMMIT writes the WAL on another thread).
#[must_use = "a sync is durable only once `durable` succeeds"]
pub struct Commit(Option<tokio::sync::oneshot::Receiver<Result<(), StoreError>>>);

impl Commit {
    fn pending(outcome: tokio::sync::oneshot::Receiver<Result<(), StoreError>>) -> Commit {
        Commit(Some(outcome))
    }

    /// Waits until the transaction has committed, or answers why it did not.
    pub async fn durable(self) -> Result<(), StoreError> {
        match self.0 {
            None => Ok(()),
            Some(outcome) => outcome
                .await
                .map_err(|_| StoreError::Unavailable(sqlx::Error::WorkerCrashed))?,
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Succeeds when the database answers a query.
    async fn health(&self) -> Result<(), StoreError>;

    /// Writes a batch of valid records in one transaction and reports each one's fate, in
    /// the batch's order. Records whose references do not resolve are rejected, not written.
    /// A dry run does all of it and rolls back, so its answer is exactly the real one's.
    async fn sync(
        &self,
        scope: Scope,
        batch: SyncBatch,
        outcome: Finish,
    ) -> Result<Vec<RecordResult>, StoreError> {
        let written = self.sync_recorded(scope, batch, outcome, None).await?;
        written.commit.durable().await?;
        Ok(written.results)
    }

    /// `sync`, appending the call to the sync history in the same transaction, so the entry
    /// exists exactly when the data does (a dry run's entry is written after its rollback).
    /// `history` is the call's draft entry, completed with the batch's results. The results may arrive while the
    /// transaction still commits: nothing of them may reach a client before `commit` is
    /// durable.
    async fn sync_recorded(
        &self,
        scope: Scope,
        batch: SyncBatch,
        outcome: Finish,
        history: Option<HistoryDraft>,
    ) -> Result<Written, StoreError>;

    async fn list(
        &self,
        scope: Scope,
        entity: Entity,
        query: &ListQuery,
    ) -> Result<Page, StoreError>;

    /// One record; a job comes with its parts and their operations.
    async fn get(
        &self,
        scope: Scope,
        entity: Entity,
        record: &RecordRef,
        include_deleted: bool,
    ) -> Result<Option<RecordView>, StoreError>;

    /// Soft-deletes a live record: a job takes its parts and operations along, a part its
    /// operations; a cell live operations still use is refused, and so is a record the floor
    /// has worked on. A later sync restores it.
    async fn delete(
        &self,
        scope: Scope,
        entity: Entity,
        record: &RecordRef,
    ) -> Result<Deletion, StoreError> {
        let mut tx = self.begin(Access::Write).await?;
        let deletion = delete::delete(&mut *tx, scope, entity, record).await?;
        match deletion {
            Deletion::Deleted { .. } => tx.commit().await?,
            _ => tx.rollback().await?,
        }
        Ok(deletion)
    }

    /// Stores a new key for a tenant, creating the tenant on first use.
    async fn create_api_key(
        &self,
        tenant: &TenantSlug,
        name: Option<&str>,
        key: &IssuedKey,
        scopes: KeyScopes,
    ) -> Result<ApiKeyInfo, StoreError>;

    async fn list_api_keys(
        &self,
        tenant: Option<&TenantSlug>,
    ) -> Result<Vec<ApiKeyInfo>, StoreError>;

    /// Revokes a key named by its id or its display prefix (`ery_live_AbC…`).
    async fn revoke_api_key(&self, id_or_prefix: &str) -> Result<ApiKeyInfo, StoreError>;

    async fn find_api_key(&self, lookup: &str) -> Result<Option<StoredKey>, StoreError>;

    async fn touch_api_key(&self, id: Uuid) -> Result<(), StoreError>;

    /// Appends an entry to the tenant's sync history.
    async fn record_import(&self, scope: Scope, entry: &ImportEntry) -> Result<(), StoreError>;

    /// The sync history, newest first (entries without their per-record errors), and how
    /// many entries match in all.
    async fn list_imports(
        &self,
        scope: Scope,
        query: &ImportQuery,
    ) -> Result<(Vec<ImportRecord>, u64), StoreError>;

    /// One history entry with its per-record errors.
    async fn get_import(&self, scope: Scope, id: Uuid) -> Result<Option<ImportRecord>, StoreError>;

    /// Takes an `Idempotency-Key` of an API key for a request with this hash, or says why not.
    async fn claim_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
        request_hash: &str,
    ) -> Result<Claim, StoreError>;

    /// Stores the answer of a claimed request, for replays.
    async fn complete_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError>;

    /// Frees a claimed key whose request failed on our side, so a retry runs it again.
    async fn release_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
    ) -> Result<(), StoreError>;

    /// Opens a transaction for the engine-neutral flows (`floor`, `events`).
    async fn begin(&self, access: Access) -> Result<Box<dyn Tx>, StoreError>;

    /// Runs a lifecycle action on a job or an operation, writing its events with it.
    async fn transition(
        &self,
        scope: Scope,
        machine: Machine,
        record: &RecordRef,
        action: Action,
        report: &Report,
    ) -> Result<Acted, StoreError> {
        let mut tx = self.begin(Access::Write).await?;
        let acted = floor::act(&mut *tx, scope, machine, record, action, report).await?;
        match acted {
            Acted::Done(_) => tx.commit().await?,
            _ => tx.rollback().await?,
        }
        Ok(acted)
    }

    /// An operation's time entries, oldest first; `None` for no such live operation.
    async fn time_entries(
        &self,
        scope: Scope,
        operation: Uuid,
    ) -> Result<Option<Vec<TimeEntry>>, StoreError> {
        let mut tx = self.begin(Access::Read).await?;
        let entries = floor::time_entries(&mut *tx, scope, operation).await?;
        tx.rollback().await?;
        Ok(entries)
    }

    /// Records a produced quantity on an operation, with its event; a retried
    /// `client_event_id` is answered with its first report and counted once.
    async fn report_quantity(
        &self,
        scope: Scope,
        report: &NewReport,
    ) -> Result<Reported, StoreError> {
        let mut tx = self.begin(Access::Write).await?;
        let reported = quantities::report(&mut *tx, scope, report).await?;
        match reported {
            Reported::Created(_) => tx.commit().await?,
            _ => tx.rollback().await?,
        }
        Ok(reported)
    }

    /// An operation's quantity reports, oldest first; `None` for no such live operation.
    async fn quantity_reports(
        &self,
        scope: Scope,
        operation: Uuid,
    ) -> Result<Option<Vec<QuantityReport>>, StoreError> {
        let mut tx = self.begin(Access::Read).await?;
        let reports = quantities::list(&mut *tx, scope, operation).await?;
        tx.rollback().await?;
        Ok(reports)
    }

    /// A page of the tenant's event log.
    async fn events(&self, scope: Scope, query: &FeedQuery) -> Result<Feed, StoreError> {
        let mut tx = self.begin(Access::Read).await?;
        let feed = events::feed(&mut *tx, scope, query).await?;
        tx.rollback().await?;
        Ok(feed)
    }

    /// One event of the tenant's log.
    async fn event(&self, scope: Scope, id: &str) -> Result<Option<Event>, StoreError> {
        let mut tx = self.begin(Access::Read).await?;
        let event = events::one(&mut *tx, scope, id).await?;
        tx.rollback().await?;
        Ok(event)
    }

    /// Deletes events older than `before` (a stored timestamp); answers how many.
    async fn prune_events(&self, before: &str) -> Result<u64, StoreError> {
        let mut tx = self.begin(Access::Write).await?;
        let pruned = events::prune(&mut *tx, before).await?;
        tx.commit().await?;
        Ok(pruned)
    }

    /// Counts one request of a key in a rate-limit window (a Unix minute) and answers how
    /// many it has made in that window, this one included. Shared by every server instance
    /// on the same database where the engine allows several.
    async fn count_request(&self, key_id: Uuid, window: u64) -> Result<u32, StoreError>;
}

/// Rate-limit windows kept in this process, for an engine that only one process serves.
#[derive(Default)]
pub(crate) struct WindowCounter(std::sync::Mutex<std::collections::HashMap<Uuid, (u64, u32)>>);

impl WindowCounter {
    pub(crate) fn count(&self, key_id: Uuid, window: u64) -> u32 {
        let mut windows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (seen_in, requests) = windows.entry(key_id).or_insert((window, 0));
        if *seen_in != window {
            *seen_in = window;
            *requests = 0;
        }
        *requests = requests.saturating_add(1);
        *requests
    }
}

/// The statements that soft-delete a record, then its parts, then its operations, written with
/// the engine's placeholders for the record's id and the time of deletion.
pub(crate) struct Cascade {
    own: String,
    parts: Option<String>,
    operations: Option<String>,
}

impl Cascade {
    pub(crate) fn of(entity: Entity, id: &str, now: &str) -> Cascade {
        let set = format!("SET deleted_at = {now}, updated_at = {now}");
        let live = "deleted_at IS NULL";
        let own = format!("UPDATE {} {set} WHERE id = {id}", entity.plural());
        let (parts, operations) = match entity {
            Entity::Jobs => (
                Some(format!("UPDATE parts {set} WHERE job_id = {id} AND {live}")),
                Some(format!(
                    "UPDATE operations {set} \
                     WHERE part_id IN (SELECT id FROM parts WHERE job_id = {id}) AND {live}"
                )),
            ),
            Entity::Parts => (
                None,
                Some(format!(
                    "UPDATE operations {set} WHERE part_id = {id} AND {live}"
                )),
            ),
            Entity::Operations | Entity::Cells | Entity::Resources => (None, None),
        };
        Cascade {
            own,
            parts,
            operations,
        }
    }

    /// The statements to run in order, each with the slot (record, parts, operations) its
    /// affected-row count belongs to.
    pub(crate) fn statements(self) -> impl Iterator<Item = (usize, String)> {
        [Some(self.own), self.parts, self.operations]
            .into_iter()
            .enumerate()
            .filter_map(|(slot, sql)| sql.map(|sql| (slot, sql)))
    }
}

/// The bind values that name a record: its id, or its source and external id.
pub(crate) fn key_params(target: &RecordRef) -> (bool, Vec<String>) {
    match target {
        RecordRef::Id(id) => (false, vec![id.hyphenated().to_string()]),
        RecordRef::External {
            source,
            external_id,
        } => (true, vec![source.clone(), external_id.clone()]),
    }
}

pub(crate) fn decode_scopes(text: &str) -> Result<KeyScopes, StoreError> {
    KeyScopes::parse(text).map_err(|e| StoreError::Database(sqlx::Error::Decode(e.into())))
}

pub(crate) fn decode_mode(text: &str) -> Result<Mode, StoreError> {
    Mode::parse(text).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown key mode {text:?}").into(),
        ))
    })
}

/// The lookup characters named by a key prefix an operator typed (`ery_live_AbCd1234…`).
pub(crate) fn lookup_of(prefix: &str) -> Option<&str> {
    let random = prefix
        .strip_prefix("ery_live_")
        .or_else(|| prefix.strip_prefix("ery_test_"))
        .unwrap_or(prefix);
    let random = &random[..random.len().min(crate::domain::api_key::LOOKUP_CHARS)];
    (random.len() >= 8 && random.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(random)
}

/// The condition that hides deleted rows of `alias`, unless they were asked for.
pub(crate) fn visible(alias: &str, include_deleted: bool) -> String {
    if include_deleted {
        String::new()
    } else {
        format!(" AND {alias}.deleted_at IS NULL")
    }
}

/// The column tying a child row to its parent.
pub(crate) fn parent_column(entity: Entity) -> &'static str {
    entity
        .columns()
        .iter()
        .find(|c| {
            matches!(
                c.kind,
                crate::domain::schema::Kind::Reference(Entity::Jobs | Entity::Parts)
            )
        })
        .map(|c| c.name)
        .expect("only parts and operations are retired")
}

/// Opens (creating and migrating when needed) the store a database URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &StoreOptions::default()).await
}

/// Connection settings; `Default` suits one server instance on a modest database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL: connections this process keeps at most.
    pub max_connections: u32,
    /// PostgreSQL: how long a request waits for a free connection before it is answered 503.
    pub acquire_timeout: Duration,
    /// PostgreSQL: longest a statement may run before the server cancels it; `None` keeps the
    /// server's.
    pub statement_timeout: Option<Duration>,
    /// SQLite: how long a write waits for another process (an `eryxon` command, a second
    /// server, the `sqlite3` shell) to release the file's write lock before it is answered 503.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Some(Duration::from_secs(30)),
            busy_timeout: Duration::from_secs(DEFAULT_BUSY_TIMEOUT_SECS),
        }
    }
}

/// Seconds a SQLite write waits for another process's write lock, unless configured otherwise.
pub const DEFAULT_BUSY_TIMEOUT_SECS: u64 = 5;

/// Like [`open`], with connection settings.
pub async fn open_with(url: &str, pool: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open_with(url, pool).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(
            postgres::PostgresStore::open_with(url, pool).await?,
        ))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// Now, as stored: UTC with microseconds and a fixed width, so text order is time order.
/// Binds a sync-history row to an engine's `INSERT INTO sync_imports (id, tenant_id, mode,
/// key_id, endpoint, entity, sources, dry_run, status, total, created, updated, unchanged,
/// errors, error_details, duration_ms, request_id, created_at)`, in that column order.
fn bind_import<'q, DB: sqlx::Database>(
    query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
    scope: Scope,
    entry: &'q ImportEntry,
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(entry.id.hyphenated().to_string())
        .bind(scope.tenant_id.hyphenated().to_string())
        .bind(scope.mode.as_str())
        .bind(entry.key_id.hyphenated().to_string())
        .bind(entry.endpoint.as_str())
        .bind(entry.entity.plural())
        .bind(serde_json::to_string(&entry.sources).expect("strings serialize"))
        .bind(entry.dry_run)
        .bind(i64::from(entry.status))
        .bind(entry.counts.total as i64)
        .bind(entry.counts.created as i64)
        .bind(entry.counts.updated as i64)
        .bind(entry.counts.unchanged as i64)
        .bind(entry.counts.errors as i64)
        .bind(entry.error_details.to_string())
        .bind(entry.duration_ms as i64)
        .bind(entry.request_id.as_deref())
        .bind(timestamp())
}

pub fn timestamp() -> String {
    timestamp_of(time::OffsetDateTime::now_utc())
}

/// A stored timestamp `minutes` before now.
pub fn minutes_ago(minutes: i64) -> String {
    timestamp_of(time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
}

/// Classifies a row found under an `Idempotency-Key` that could not be claimed.
pub(crate) fn existing_claim(
    request_hash: &str,
    stored_hash: &str,
    response: Option<(u16, Vec<u8>)>,
) -> Claim {
    match response {
        _ if stored_hash != request_hash => Claim::Mismatch,
        Some((status, body)) => Claim::Replay { status, body },
        None => Claim::InProgress,
    }
}

/// A time as stored.
pub fn timestamp_of(at: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    at.format(FORMAT).expect("a UTC timestamp always formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_per_key_and_restart_each_minute() {
        let counter = WindowCounter::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(counter.count(a, 100), 1);
        assert_eq!(counter.count(a, 100), 2);
        assert_eq!(counter.count(b, 100), 1);
        assert_eq!(counter.count(a, 101), 1);
    }

    #[test]
    fn timestamps_have_a_fixed_width() {
        let at = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        assert_eq!(timestamp_of(at), "2024-01-02T03:04:05.000000Z");
        assert_eq!(timestamp().len(), 27);
    }
}
