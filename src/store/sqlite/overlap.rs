//! CPU work done while a statement runs. sqlx runs a SQLite statement on its worker thread and
//! hands it over the first time its future is polled; polling it once before the work lets the
//! two run side by side. The upsert encodes its rows this way while the first-row probe and the
//! key look run. Why and what it gains:
//! docs/decisions/0009-sqlite-overlap-work-with-statements.md.
//!
//! Both the statement's output and the work's are answered, whichever finishes first, and the
//! statement is always awaited to its end. It has no test of its own: every sync that probes
//! or looks up rows runs through it (the `api` and `properties` tests), and its gain shows in
//! the bench's `flat_*` figures.

use std::future::Future;
use std::task::Poll;

/// Runs `work` on this thread while `statement` runs on sqlx's worker thread, and answers
/// both. A sqlx statement is handed to the worker when first polled, so polling it once
/// before `work` overlaps the two.
pub(super) async fn meanwhile<S: Future, T>(
    statement: S,
    work: impl FnOnce() -> T,
) -> (S::Output, T) {
    let mut statement = std::pin::pin!(statement);
    let early = std::future::poll_fn(|cx| Poll::Ready(statement.as_mut().poll(cx))).await;
    let done = work();
    let output = match early {
        Poll::Ready(output) => output,
        Poll::Pending => statement.await,
    };
    (output, done)
}
