//! `Idempotency-Key` on every write (`PUT`, `POST`, `PATCH`, `DELETE` under `/api-*`): the
//! same key with the same request within 24 h replays the first answer instead of running
//! again, so an ERP or a floor terminal can retry after a timeout without risk (a lifecycle
//! action retried is not refused as a transition its own first attempt already made:
//! `idempotent_writes::a_floor_action_retried_with_its_key_is_answered_once`). Keys belong to
//! the API key that used them. A read (`GET`, `HEAD`) changes nothing and keeps no key.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth::Principal;
use super::error::ApiError;
use super::json::read_body;
use super::AppState;
use crate::domain::decode::FieldError;
use crate::store::Claim;

const HEADER: &str = "idempotency-key";
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

fn checked_key(value: &HeaderValue) -> Result<String, ApiError> {
    let key = value.to_str().unwrap_or_default();
    let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(key.to_owned())
    } else {
        Err(ApiError::invalid(FieldError::new(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters (a UUID is a good choice)",
        )))
    }
}

/// What makes two requests "the same": method, path with query, and body.
fn request_hash(request: &Request, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(request.method().as_str());
    hash.update(b" ");
    hash.update(request.uri().to_string());
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match guarded(state, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn guarded(state: AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let value = match request.headers().get(HEADER) {
        Some(value) if !request.method().is_safe() => value,
        _ => return Ok(next.run(request).await),
    };
    // Two keys on one request: which one a retry must repeat is unclear, so neither is taken
    // (the first was, silently; a retry with the second ran the write again).
    if request.headers().get_all(HEADER).iter().nth(1).is_some() {
        return Err(ApiError::invalid(FieldError::new(
            "Idempotency-Key",
            "was sent more than once; send one key per request",
        )));
    }
    let key = checked_key(value)?;
    let principal = *request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| ApiError::Unauthorized("authentication required".to_owned()))?;
    let (parts, body) = request.into_parts();
    let bytes = read_body(&parts, body).await?;
    let request = Request::from_parts(parts, Body::from(bytes.clone()));
    let hash = request_hash(&request, &bytes);

    match state
        .store
        .claim_idempotency_key(principal.key_id, &key, &hash)
        .await?
    {
        Claim::Replay { status, body } => Ok(replay(status, body)),
        Claim::Mismatch => Err(ApiError::IdempotencyKeyReused),
        Claim::InProgress => Err(ApiError::IdempotencyInProgress),
        Claim::Fresh => {
            let response = next.run(request).await;
            // Our failure, not the request's, or a body refused unread (its `Content-Type`):
            // let a retry run it again, the header fixed
            // (`idempotent_writes::a_key_is_not_kept_for_a_body_refused_unread`).
            if response.status().is_server_error()
                || response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
            {
                release(state, principal.key_id, key).await;
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let body = to_bytes(body, usize::MAX)
                .await
                .map_err(|_| ApiError::Panic)?;
            state
                .store
                .complete_idempotency_key(principal.key_id, &key, parts.status.as_u16(), &body)
                .await?;
            Ok(Response::from_parts(parts, Body::from(body)))
        }
    }
}

/// Frees the key of a request that failed on our side. Most such failures are the database
/// being away, when freeing the key fails too: it is then tried again each second in the
/// background until the database answers, so the client's retry runs once the database is
/// back instead of being told `IDEMPOTENCY_IN_PROGRESS` until the claim goes stale (5 min).
async fn release(state: AppState, key_id: uuid::Uuid, key: String) {
    /// How long the background keeps trying: past it the claim has gone stale anyway.
    const TRYING: std::time::Duration = std::time::Duration::from_secs(300);
    if state
        .store
        .release_idempotency_key(key_id, &key)
        .await
        .is_ok()
    {
        return;
    }
    tokio::spawn(async move {
        let until = tokio::time::Instant::now() + TRYING;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            match state.store.release_idempotency_key(key_id, &key).await {
                Ok(()) => return,
                Err(error) => tracing::debug!(%error, "could not free an idempotency key yet"),
            }
        }
    });
}
