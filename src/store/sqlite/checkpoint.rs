//! WAL checkpoints off the request path. Left to SQLite, the commit that pushes the WAL past
//! 1000 pages copies it into the database file before it returns, so every third or fourth
//! 1000-record sync paid for a checkpoint: 90th-percentile latency 14 ms against a 5 ms median.
//! This task checkpoints on a connection of its own, a few times a second, while syncs go on
//! writing, and the writer's own checkpoint waits for a WAL of `AUTOCHECKPOINT_PAGES`.
//!
//! The writer still needs it: it starts the WAL over only when a checkpoint has caught up with
//! it, which a checkpoint running beside syncs that follow each other without pause never does.
//! The WAL would grow for as long as such a load lasts; instead, at that size, the writer's
//! commit checkpoints the little the background left, and its next write starts the WAL over.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::task::JoinHandle;

/// How often the WAL is copied into the database file. It also bounds how long a commit lives
/// only in the WAL, which `synchronous = NORMAL` syncs to disk at checkpoints.
const PERIOD: Duration = Duration::from_millis(100);

/// The WAL size (in pages, 4 KiB by default) at which a commit checkpoints (SQLite: 1000).
pub(super) const AUTOCHECKPOINT_PAGES: &str = "8192";

/// The running checkpoint task; dropping it (with the store) stops it.
pub(super) struct Checkpointer {
    task: JoinHandle<()>,
}

impl Checkpointer {
    pub fn start(options: SqliteConnectOptions) -> Checkpointer {
        Checkpointer {
            task: tokio::spawn(checkpoint_periodically(options)),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn checkpoint_periodically(options: SqliteConnectOptions) {
    let mut connection: Option<SqliteConnection> = None;
    let mut ticks = tokio::time::interval(PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match options.connect().await {
                Ok(conn) => connection.insert(conn),
                Err(error) => {
                    tracing::warn!(%error, "cannot open a connection to checkpoint the WAL");
                    continue;
                }
            },
        };
        if let Err(error) = checkpoint(conn).await {
            tracing::warn!(%error, "WAL checkpoint failed; retrying on a fresh connection");
            connection = None;
        }
    }
}

/// PASSIVE copies what no reader still needs and never waits for the writer; what it leaves
/// behind is copied at the next tick.
async fn checkpoint(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(&mut *conn)
        .await
        .map(drop)
}
