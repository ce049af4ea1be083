//! Write transactions PostgreSQL rolled back for a deadlock or a serialization failure run
//! again, as a client retrying would, instead of answering 503: transactions that lock the
//! same rows in different orders (a replace and a bulk sync moving parts between the same
//! jobs, a delete and a sync of its children) are legitimate, and one of a deadlocked pair
//! is always rolled back whole (`races::overlapping_replaces_and_moves_all_go_through`).

use std::future::Future;
use std::time::Duration;

use super::StoreError;

/// How often a transaction rolled back for a deadlock runs in all.
const ATTEMPTS: u32 = 4;

/// Runs `attempt` (one whole transaction) until it succeeds, fails otherwise, or has run
/// [`ATTEMPTS`] times; between runs it waits a few milliseconds, more each time and with some
/// jitter, so the two sides of a deadlock do not meet again in step.
pub(crate) async fn on_write_conflict<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut run = 1;
    loop {
        match attempt().await {
            Err(error) if error.is_write_conflict() && run < ATTEMPTS => {
                run += 1;
                metrics::counter!("eryxon_write_retries_total").increment(1);
                let pause = 5 * u64::from(run) + rand::random::<u64>() % 20;
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}
