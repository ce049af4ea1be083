//! What the server keeps, and for how long: past the retention
//! (`ERYXON_EVENT_RETENTION_DAYS`), the events, the deliveries that are finished with and the
//! sync history go, so that a server running for years holds weeks of them, not years.
//!
//! A delivery still to be sent stays whatever its age: it holds its body, and its endpoint,
//! switched back on, is sent it. Records (deleted ones too) are the ERP's data and stay.

use super::tx::Statements;
use super::{events, StoreError};

/// What one round of pruning deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    /// Delivered or failed deliveries, with their attempts.
    pub deliveries: u64,
    /// Sync history entries, with their per-record errors.
    pub history: u64,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        *self == Pruned::default()
    }
}

/// Deletes what was made before `before` (a stored timestamp) and is past use
/// (`events::retention_prunes_the_log_the_finished_deliveries_and_the_history`).
pub(crate) async fn prune(tx: &mut dyn Statements, before: &str) -> Result<Pruned, StoreError> {
    let events = events::prune(tx, before).await?;
    // Attempts go with their delivery (ON DELETE CASCADE, foreign keys on in both engines).
    let deliveries = tx
        .run(
            "DELETE FROM webhook_deliveries \
             WHERE status <> 'pending' AND created_at < $1::timestamptz",
            vec![before.into()],
        )
        .await?;
    let history = tx
        .run(
            "DELETE FROM sync_imports WHERE created_at < $1::timestamptz",
            vec![before.into()],
        )
        .await?;
    Ok(Pruned {
        events,
        deliveries,
        history,
    })
}
