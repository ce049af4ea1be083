//! What the server keeps, and for how long: past the retention
//! (`ERYXON_EVENT_RETENTION_DAYS`), the events, the deliveries that are finished with and the
//! sync history go, and `Idempotency-Key` answers after their day, so that a server running
//! for years holds weeks of them, not years.
//!
//! A delivery still to be sent stays whatever its age: it holds its body, and its endpoint,
//! switched back on, is sent it. Records (deleted ones too) are the ERP's data and stay.

use super::idempotency::IDEMPOTENCY_HOURS;
use super::{events, minutes_ago, Access, Store, StoreError};

/// What one round of pruning deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    /// Delivered or failed deliveries, with their attempts.
    pub deliveries: u64,
    /// Sync history entries, with their per-record errors.
    pub history: u64,
    /// Stored answers of `Idempotency-Key`s past the day they are remembered.
    pub idempotency_keys: u64,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        *self == Pruned::default()
    }
}

/// Rows deleted per transaction, so that pruning a long-grown backlog (the first prune after
/// an upgrade, or after raising the retention) never holds SQLite's write lock for long: syncs
/// waiting on it are answered 503 after `--db-busy-timeout-secs`.
const BATCH: i64 = 5_000;

/// Deletes what was made before `before` (a stored timestamp) and is past use, a delivery
/// judged by its last attempt (a backlog sent today after a long pause is kept for the
/// retention from today); answers how many of each
/// (`retention::past_the_retention_the_log_finished_deliveries_and_history_go`).
pub async fn prune(store: &dyn Store, before: &str) -> Result<Pruned, StoreError> {
    let events = in_batches(store, &events::prune_statements(), before).await?;
    // Attempts go with their delivery (ON DELETE CASCADE, foreign keys on in both engines).
    let deliveries = in_batches(
        store,
        &[
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE status <> 'pending' \
           AND COALESCE(last_attempt_at, created_at) < $1::timestamptz LIMIT $2)",
        ],
        before,
    )
    .await?;
    let history = in_batches(
        store,
        &[
            "DELETE FROM sync_imports WHERE id IN (SELECT id FROM sync_imports \
         WHERE created_at < $1::timestamptz LIMIT $2)",
        ],
        before,
    )
    .await?;
    // Remembered a day whatever the retention: each holds a whole answer (a bulk call's is
    // hundreds of KB), and were kept forever once past it, only ever overwritten by a reuse.
    let idempotency_keys = in_batches(
        store,
        &[
            "DELETE FROM idempotency_keys WHERE (key_id, idempotency_key) IN \
         (SELECT key_id, idempotency_key FROM idempotency_keys \
          WHERE created_at < $1::timestamptz LIMIT $2)",
        ],
        &minutes_ago(IDEMPOTENCY_HOURS * 60),
    )
    .await?;
    Ok(Pruned {
        events,
        deliveries,
        history,
        idempotency_keys,
    })
}

/// Runs `statements` (`$1` before, `$2` the batch size) a transaction at a time until the
/// last deletes fewer than a batch; answers how many rows it deleted.
async fn in_batches<S: AsRef<str>>(
    store: &dyn Store,
    statements: &[S],
    before: &str,
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let mut tx = store.begin(Access::Write).await?;
        let mut deleted = 0;
        for statement in statements {
            deleted = tx
                .run(statement.as_ref(), vec![before.into(), BATCH.into()])
                .await?;
        }
        tx.commit().await?;
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
    }
}
