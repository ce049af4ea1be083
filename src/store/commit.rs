//! A sync's results and the commit of its transaction, which may still be running when the
//! results are handed over.

use super::StoreError;
use crate::domain::outcome::RecordResult;

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
    pub(crate) fn pending(
        outcome: tokio::sync::oneshot::Receiver<Result<(), StoreError>>,
    ) -> Commit {
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
