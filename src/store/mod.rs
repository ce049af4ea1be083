//! Persistence: one trait of domain operations, one implementation per database engine.

mod claim;
mod clock;
mod commit;
mod delete;
pub mod deliveries;
pub mod delivery_log;
mod error;
pub mod events;
pub mod feed;
pub mod floor;
mod history;
mod idempotency;
mod keys;
pub mod listing;
mod part_state;
pub mod postgres;
mod progress;
pub mod quantities;
mod read;
mod replace;
pub mod retention;
mod retry;
pub mod sqlite;
mod sync;
pub(crate) mod sync_events;
mod sync_follow;
pub mod tx;
pub mod webhook_health;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::api_key::{IssuedKey, KeyScopes, TenantSlug};
use crate::domain::event::Event;
use crate::domain::floor::{Action, Machine, Report};
use crate::domain::outcome::RecordResult;
use crate::domain::progress::TimeEntry;
use crate::domain::quantity::{NewReport, QuantityReport, Reported};
use crate::domain::record::SyncBatch;
use crate::domain::view::RecordView;
use crate::domain::{Entity, Scope};
use tx::{Statements, Tx};

pub use crate::domain::history::{HistoryDraft, ImportEntry, ImportOutcome, ImportRecord};
pub use clock::{minutes_ago, timestamp, timestamp_of};
pub use commit::{Commit, Written};
pub(crate) use error::migration_error;
pub use error::StoreError;
pub use feed::{Feed, FeedQuery};
pub use floor::Acted;
pub use history::ImportQuery;
pub use idempotency::{Claim, IDEMPOTENCY_HOURS, IDEMPOTENCY_STALE_MINUTES};
pub use keys::{ApiKeyInfo, StoredKey};
pub use listing::Sort;
pub(crate) use read::parent_column;
pub(crate) use sync::SyncWriter;
pub use sync::{free_later, Found, Retired, UpsertRow};

/// What a transaction opened by [`Store::begin`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Writes the server's own tables only (keys, idempotency, sync history), never records:
    /// what SQLite knows of the rows syncs wrote stays valid.
    Bookkeeping,
}

/// How a sync transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Commit,
    /// Roll back: report what the sync would do, write nothing.
    DryRun,
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

/// Which rows of a list to answer: `limit` of them from `offset`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub limit: u32,
    pub offset: u32,
}

impl Window {
    /// ` LIMIT … OFFSET …`, as both engines spell it (the numbers are the window's own).
    pub(crate) fn sql(self) -> String {
        format!(" LIMIT {} OFFSET {}", self.limit, self.offset)
    }
}

/// The rows of a list a window holds, and how many the whole list holds.
#[derive(Debug)]
pub struct Windowed<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// One page of records.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<RecordView>,
    pub total: u64,
    /// The id of the page's last record.
    pub last_id: Option<Uuid>,
}

/// The database connections of this process, for monitoring.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolState {
    pub idle: u32,
    pub active: u32,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Succeeds when the database answers a query.
    async fn health(&self) -> Result<(), StoreError>;

    /// How many of this process's connections are idle and in use.
    fn pool_state(&self) -> PoolState;

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
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str(), entity = entity.plural()))]
    async fn delete(
        &self,
        scope: Scope,
        entity: Entity,
        record: &RecordRef,
    ) -> Result<Deletion, StoreError> {
        retry::on_write_conflict(|| async {
            let mut tx = self.begin(Access::Write).await?;
            let deletion = delete::delete(&mut *tx, scope, entity, record).await?;
            match deletion {
                Deletion::Deleted { .. } => tx.commit().await?,
                _ => tx.rollback().await?,
            }
            Ok(deletion)
        })
        .await
    }

    /// Statements each committed on its own, on a connection fit for `access`: the server's
    /// own bookkeeping that needs no transaction.
    fn autocommit(&self, access: Access) -> Box<dyn Statements + '_>;

    /// Stores a new key for a tenant, creating the tenant on first use.
    async fn create_api_key(
        &self,
        tenant: &TenantSlug,
        name: Option<&str>,
        key: &IssuedKey,
        scopes: KeyScopes,
    ) -> Result<ApiKeyInfo, StoreError> {
        keys::create(self, tenant, name, key, scopes).await
    }

    async fn list_api_keys(
        &self,
        tenant: Option<&TenantSlug>,
    ) -> Result<Vec<ApiKeyInfo>, StoreError> {
        keys::list(&mut *self.autocommit(Access::Read), tenant).await
    }

    /// Revokes a key named by its id or its display prefix (`ery_live_AbC…`).
    async fn revoke_api_key(&self, id_or_prefix: &str) -> Result<ApiKeyInfo, StoreError> {
        keys::revoke(self, id_or_prefix).await
    }

    async fn find_api_key(&self, lookup: &str) -> Result<Option<StoredKey>, StoreError> {
        keys::find(&mut *self.autocommit(Access::Read), lookup).await
    }

    async fn touch_api_key(&self, id: Uuid) -> Result<(), StoreError> {
        keys::touch(&mut *self.autocommit(Access::Bookkeeping), id).await
    }

    /// Appends an entry to the tenant's sync history.
    async fn record_import(&self, scope: Scope, entry: &ImportEntry) -> Result<(), StoreError> {
        history::insert(
            &mut *self.autocommit(Access::Bookkeeping),
            &[(scope, entry)],
        )
        .await
    }

    /// The history entry of a call whose records were all refused before the engine, or that
    /// was refused whole, with its `sync.completed` unless a dry run (`sync_events::a_call_refused_record_by_record_…`).
    async fn record_refused_call(
        &self,
        scope: Scope,
        entry: &ImportEntry,
    ) -> Result<(), StoreError> {
        if entry.dry_run || (entry.counts.errors == 0 && entry.status < 400) {
            return self.record_import(scope, entry).await;
        }
        let tx = self.begin(Access::Bookkeeping).await?;
        sync_events::record_refused_call(tx, scope, entry).await
    }

    /// The sync history, newest first (entries without their per-record errors), and how
    /// many entries match in all.
    async fn list_imports(
        &self,
        scope: Scope,
        query: &ImportQuery,
    ) -> Result<(Vec<ImportRecord>, u64), StoreError> {
        history::list(&mut *self.autocommit(Access::Read), scope, query).await
    }

    /// One history entry with its per-record errors.
    async fn get_import(&self, scope: Scope, id: Uuid) -> Result<Option<ImportRecord>, StoreError> {
        history::get(&mut *self.autocommit(Access::Read), scope, id).await
    }

    /// Takes an `Idempotency-Key` of an API key for a request with this hash, or says why not.
    async fn claim_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
        request_hash: &str,
    ) -> Result<Claim, StoreError> {
        let mut tx = self.begin(Access::Bookkeeping).await?;
        let claim = idempotency::claim(&mut *tx, key_id, idempotency_key, request_hash).await?;
        tx.commit().await?;
        Ok(claim)
    }

    /// Stores the answer of a claimed request, for replays.
    async fn complete_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.autocommit(Access::Bookkeeping);
        idempotency::complete(&mut *tx, key_id, idempotency_key, status, body).await
    }

    /// Frees a claimed key whose request failed on our side, so a retry runs it again.
    async fn release_idempotency_key(
        &self,
        key_id: Uuid,
        idempotency_key: &str,
    ) -> Result<(), StoreError> {
        idempotency::release(
            &mut *self.autocommit(Access::Bookkeeping),
            key_id,
            idempotency_key,
        )
        .await
    }

    /// Frees the keys of requests that began before `started` and never stored an answer.
    async fn release_unanswered_idempotency_keys(&self, started: &str) -> Result<u64, StoreError> {
        idempotency::release_unanswered(&mut *self.autocommit(Access::Bookkeeping), started).await
    }

    /// Opens a transaction for the engine-neutral flows (`floor`, `events`).
    async fn begin(&self, access: Access) -> Result<Box<dyn Tx>, StoreError>;

    /// Runs a lifecycle action on a job or an operation, writing its events with it.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str(), ?machine, ?action))]
    async fn transition(
        &self,
        scope: Scope,
        machine: Machine,
        record: &RecordRef,
        action: Action,
        report: &Report,
    ) -> Result<Acted, StoreError> {
        retry::on_write_conflict(|| async {
            let mut tx = self.begin(Access::Write).await?;
            let acted = floor::act(&mut *tx, scope, machine, record, action, report).await?;
            match acted {
                Acted::Done(_) => tx.commit().await?,
                _ => tx.rollback().await?,
            }
            Ok(acted)
        })
        .await
    }

    /// An operation's time entries, oldest first; `None` for no such live operation.
    async fn time_entries(
        &self,
        scope: Scope,
        operation: Uuid,
        window: Window,
    ) -> Result<Option<Windowed<TimeEntry>>, StoreError> {
        let mut tx = self.begin(Access::Read).await?;
        let entries = progress::time_entries(&mut *tx, scope, operation, window).await?;
        tx.rollback().await?;
        Ok(entries)
    }

    /// Records a produced quantity on an operation, with its event; a retried
    /// `client_event_id` is answered with its first report and counted once.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str()))]
    async fn report_quantity(
        &self,
        scope: Scope,
        report: &NewReport,
    ) -> Result<Reported, StoreError> {
        retry::on_write_conflict(|| async {
            let mut tx = self.begin(Access::Write).await?;
            let reported = quantities::report(&mut *tx, scope, report).await?;
            match reported {
                Reported::Created(_) => tx.commit().await?,
                _ => tx.rollback().await?,
            }
            Ok(reported)
        })
        .await
    }

    /// An operation's quantity reports, oldest first; `None` for no such live operation.
    async fn quantity_reports(
        &self,
        scope: Scope,
        operation: Uuid,
        window: Window,
    ) -> Result<Option<Windowed<QuantityReport>>, StoreError> {
        let mut tx = self.begin(Access::Read).await?;
        let reports = quantities::list(&mut *tx, scope, operation, window).await?;
        tx.rollback().await?;
        Ok(reports)
    }

    /// A page of the tenant's event log.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant_id, mode = scope.mode.as_str()))]
    async fn events(&self, scope: Scope, query: &FeedQuery) -> Result<Feed, StoreError> {
        let mut tx = self.begin(Access::Read).await?;
        let feed = feed::feed(&mut *tx, scope, query).await?;
        tx.rollback().await?;
        Ok(feed)
    }

    /// One event of the tenant's log.
    async fn event(&self, scope: Scope, id: &str) -> Result<Option<Event>, StoreError> {
        let mut tx = self.begin(Access::Read).await?;
        let event = feed::one(&mut *tx, scope, id).await?;
        tx.rollback().await?;
        Ok(event)
    }

    /// Counts one request of a key in a rate-limit window (a Unix minute) and answers how
    /// many it has made in that window, this one included. Shared by every server instance
    /// on the same database where the engine allows several.
    async fn count_request(&self, key_id: Uuid, window: u64) -> Result<u32, StoreError>;
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
