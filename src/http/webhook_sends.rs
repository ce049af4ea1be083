//! Sending to an endpoint again: a `webhook.test` event, a delivery by hand, a time range of
//! the log. Split from `webhooks.rs`, which manages the endpoints.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::floor::required_id;
use super::json::{ApiJson, NoQuery};
use super::webhooks::{no_webhook, webhook_id, TAG};
use super::{success, AppState, Success};
use crate::domain::decode::FieldError;
use crate::domain::event::TypeFilter;
use crate::domain::expect;
use crate::domain::instant;
use crate::store::delivery_log::{self, NotQueued};
use crate::store::timestamp_of;

/// Queuing for an endpoint that is switched off: nothing would be sent until it is on.
fn disabled(id: Uuid) -> ApiError {
    ApiError::Conflict(format!(
        "webhook {id} is switched off (paused, or disabled by the server after failures), so \
         nothing would be sent; switch it on with PATCH /api-webhooks/{id} {{\"active\": true}} \
         (it is then sent what it missed)"
    ))
}

/// A test or replay that queued nothing.
fn not_queued(id: Uuid, why: NotQueued) -> ApiError {
    match why {
        NotQueued::Disabled => disabled(id),
        NotQueued::NotFound | NotQueued::InFlight => no_webhook(id),
    }
}

#[derive(Serialize)]
pub struct Queued {
    delivery_id: Uuid,
    event_id: String,
}

/// Send a `webhook.test` event
///
/// Queued at once; its outcome shows in the endpoint's deliveries.
#[utoipa::path(
    post,
    path = "/api-webhooks/{id}/test",
    operation_id = "testWebhook",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The endpoint's id."))
)]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    _: NoQuery,
) -> Result<(StatusCode, Json<Success<Queued>>), ApiError> {
    let id = webhook_id(&id)?;
    let (delivery_id, event_id) = delivery_log::send_test(&*state.store, principal.scope, id)
        .await?
        .map_err(|why| not_queued(id, why))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(success(Queued {
            delivery_id,
            event_id,
        })),
    ))
}

/// Try a delivery again now
///
/// Due at once, whatever its status; a delivery being sent right now, or of a disabled endpoint, answers 409.
#[utoipa::path(
    post,
    path = "/api-webhooks/{id}/deliveries/{delivery_id}/retry",
    operation_id = "retryWebhookDelivery",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The endpoint's id."), ("delivery_id" = Uuid, Path, description = "The delivery's id."))
)]
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, delivery)): Path<(String, String)>,
    _: NoQuery,
) -> Result<(StatusCode, Json<Success<Queued>>), ApiError> {
    let id = webhook_id(&id)?;
    let delivery = required_id("delivery_id", Some(&delivery))?;
    let event_id = delivery_log::retry(&*state.store, principal.scope, id, delivery)
        .await?
        .map_err(|why| match why {
            NotQueued::NotFound => {
                ApiError::NotFound(format!("no delivery {delivery} of webhook {id}"))
            }
            NotQueued::InFlight => ApiError::Conflict(format!(
                "delivery {delivery} is being sent right now; see its attempts"
            )),
            NotQueued::Disabled => disabled(id),
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(success(Queued {
            delivery_id: delivery,
            event_id,
        })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    #[serde(deserialize_with = "expect::text")]
    since: String,
    #[serde(default, deserialize_with = "expect::optional_text")]
    until: Option<String>,
    #[serde(default, deserialize_with = "expect::optional_texts")]
    types: Option<Vec<String>>,
}

#[derive(Serialize)]
pub struct Replayed {
    queued: usize,
    /// Only when the replay stopped at its limit before the range's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_from: Option<String>,
}

/// A replay's range as stored, in UTC. `until` must come after `since`: a range running
/// backwards selects nothing, and was answered "queued 0"
/// (`webhooks_rules::a_backward_replay_range_is_refused`).
pub(super) fn replay_range(
    since: &str,
    until: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    let from = instant::parse("since", since).map_err(ApiError::invalid)?;
    let Some(until) = until else {
        return Ok((timestamp_of(from), None));
    };
    let to = instant::parse("until", until).map_err(ApiError::invalid)?;
    if to <= from {
        return Err(ApiError::invalid(FieldError::new(
            "until",
            format!("must be after since ({since}); got {until}"),
        )));
    }
    Ok((timestamp_of(from), Some(timestamp_of(to))))
}

/// Send logged events again
///
/// The endpoint's subscribed events of the log between `since` and `until` (optionally only `types`), with their original ids, e.g. after the receiver was down for a weekend.
#[utoipa::path(
    post,
    path = "/api-webhooks/{id}/replay",
    operation_id = "replayWebhookEvents",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The endpoint's id."))
)]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    _: NoQuery,
    ApiJson(body): ApiJson<ReplayBody>,
) -> Result<(StatusCode, Json<Success<Replayed>>), ApiError> {
    let id = webhook_id(&id)?;
    let (since, until) = replay_range(&body.since, body.until.as_deref())?;
    let types = match body.types {
        Some(types) if !types.is_empty() => {
            TypeFilter::parse("types", &types.join(",")).map_err(ApiError::invalid)?
        }
        _ => TypeFilter::default(),
    };
    let replayed = delivery_log::replay(
        &*state.store,
        principal.scope,
        id,
        &since,
        until.as_deref(),
        &types,
    )
    .await?
    .map_err(|why| not_queued(id, why))?;
    let replayed = Replayed {
        queued: replayed.queued,
        resume_from: replayed.resume_from,
    };
    Ok((StatusCode::ACCEPTED, Json(success(replayed))))
}
