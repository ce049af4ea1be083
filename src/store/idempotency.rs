//! `Idempotency-Key`s, written once for both engines over [`Statements`]: a key is claimed by
//! the first request that brings it, answers its retries with the stored response once that
//! request is done, and is freed again when it fails on our side or grows stale.

use uuid::Uuid;

use super::tx::{Arg, Statements};
use super::{minutes_ago, timestamp, StoreError};

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

/// Classifies a row found under an `Idempotency-Key` that could not be claimed.
fn existing_claim(
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

/// Takes an `Idempotency-Key` of an API key for a request with this hash, or says why not, in
/// a write transaction `tx` the caller commits.
pub(crate) async fn claim(
    tx: &mut dyn Statements,
    key_id: Uuid,
    idempotency_key: &str,
    request_hash: &str,
) -> Result<Claim, StoreError> {
    let now = timestamp();
    let key = || -> Vec<Arg> { vec![key_id.into(), idempotency_key.into()] };
    // Taking over an expired or abandoned key is one conditional UPDATE, so of two
    // instances racing for it exactly one wins.
    let mut args = key();
    args.extend([
        request_hash.into(),
        now.clone().into(),
        minutes_ago(IDEMPOTENCY_HOURS * 60).into(),
        minutes_ago(IDEMPOTENCY_STALE_MINUTES).into(),
    ]);
    let taken_over = tx
        .run(
            "UPDATE idempotency_keys SET request_hash = $3, response_status = NULL, \
             response_body = NULL, created_at = $4::timestamptz \
             WHERE key_id = $1::uuid AND idempotency_key = $2 \
               AND (created_at < $5::timestamptz \
                    OR (response_status IS NULL AND created_at < $6::timestamptz))",
            args,
        )
        .await?;
    // A concurrent first claim makes this wait (PostgreSQL) for its transaction, then skip.
    let mut args = key();
    args.extend([request_hash.into(), now.into()]);
    let inserted = tx
        .run(
            "INSERT INTO idempotency_keys (key_id, idempotency_key, request_hash, created_at) \
             VALUES ($1::uuid, $2, $3, $4::timestamptz) ON CONFLICT DO NOTHING",
            args,
        )
        .await?;
    if taken_over + inserted > 0 {
        return Ok(Claim::Fresh);
    }
    let row = tx
        .row(
            "SELECT request_hash, response_status, response_body FROM idempotency_keys \
             WHERE key_id = $1::uuid AND idempotency_key = $2",
            key(),
        )
        .await?
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
    let response = match row.opt_int(1)? {
        Some(status) => Some((status as u16, row.opt_bytes(2)?.unwrap_or_default())),
        None => None,
    };
    Ok(existing_claim(request_hash, &row.text(0)?, response))
}

/// Stores the answer of a claimed request, for replays.
pub(crate) async fn complete(
    tx: &mut dyn Statements,
    key_id: Uuid,
    idempotency_key: &str,
    status: u16,
    body: &[u8],
) -> Result<(), StoreError> {
    tx.run(
        "UPDATE idempotency_keys SET response_status = $3::integer, response_body = $4 \
         WHERE key_id = $1::uuid AND idempotency_key = $2",
        vec![
            key_id.into(),
            idempotency_key.into(),
            i64::from(status).into(),
            Arg::Bytes(body.to_vec()),
        ],
    )
    .await?;
    Ok(())
}

/// Frees the keys of requests that never stored their answer and began before `started`:
/// their server stopped mid-way (a crash, `kill -9`), so nothing will answer them. Run at a
/// server's start, so that the client's retry runs at once instead of being told for
/// [`IDEMPOTENCY_STALE_MINUTES`] that the request still runs
/// (`crash::a_retry_after_a_crash_runs_at_once`). Where instances share a database, one that
/// starts also frees the keys of requests another is running; a retry then runs beside its
/// first attempt, which a sync allows (it writes no record twice; the later answer says
/// `unchanged`).
pub(crate) async fn release_unanswered(
    tx: &mut dyn Statements,
    started: &str,
) -> Result<u64, StoreError> {
    tx.run(
        "DELETE FROM idempotency_keys \
         WHERE response_status IS NULL AND created_at < $1::timestamptz",
        vec![started.into()],
    )
    .await
}

/// Frees a claimed key whose request failed on our side, so a retry runs it again.
pub(crate) async fn release(
    tx: &mut dyn Statements,
    key_id: Uuid,
    idempotency_key: &str,
) -> Result<(), StoreError> {
    tx.run(
        "DELETE FROM idempotency_keys WHERE key_id = $1::uuid AND idempotency_key = $2",
        vec![key_id.into(), idempotency_key.into()],
    )
    .await?;
    Ok(())
}
