//! `/api-webhooks`: the tenant's webhook endpoints and what was delivered to them (sending
//! again is in `webhook_sends.rs`). Routes by path (`/api-webhooks/{id}`) and, as Eryxon's
//! clients call them, by `?id=`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::floor::required_id;
use super::json::{ApiJson, ApiQuery, NoQuery};
use super::read::page_limit;
use super::{success, AppState, Success};
use crate::domain::decode::FieldError;
use crate::domain::delivery::{Delivery, Endpoint, STATUSES};
use crate::domain::event::TypeFilter;
use crate::domain::webhook::{filter_of, CreateBody, PatchBody};
use crate::store::delivery_log::{self, DeliveryQuery};
use crate::store::webhooks;

/// The document's tag of these routes.
pub(super) const TAG: &str = "Webhooks";

type Answer<T> = Result<Json<Success<T>>, ApiError>;

pub(super) fn no_webhook(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no webhook with id {id}"))
}

pub(super) fn webhook_id(text: &str) -> Result<Uuid, ApiError> {
    required_id("id", Some(text))
}

/// Register a webhook endpoint
///
/// Answers the endpoint with its `secret` (`whsec_` + base64 of 32 bytes), shown only here. The URL must be `https` to a public address; private, loopback, link-local, CGNAT and multicast addresses, and plain `http`, only go to networks the operator opened with `ERYXON_WEBHOOK_ALLOWED_NETWORKS`.
#[utoipa::path(
    post,
    path = "/api-webhooks",
    operation_id = "createWebhook",
    tag = TAG
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    _: NoQuery,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Success<Endpoint>>), ApiError> {
    let settings = body
        .check(&state.allowed_networks)
        .map_err(ApiError::invalid)?;
    let endpoint = webhooks::create(&*state.store, principal.scope, &settings).await?;
    Ok((StatusCode::CREATED, Json(success(endpoint))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    id: Option<String>,
    active: Option<bool>,
    event_type: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum Listed {
    One(Endpoint),
    Many {
        webhooks: Vec<Endpoint>,
        total: usize,
    },
}

/// The tenant's webhook endpoints, or one with `?id=`
///
/// Never with their secrets.
#[utoipa::path(
    get,
    path = "/api-webhooks",
    operation_id = "listWebhooks",
    tag = TAG
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Answer<Listed> {
    if let Some(id) = params.id.as_deref() {
        let id = webhook_id(id)?;
        let endpoint = webhooks::get(&*state.store, principal.scope, id)
            .await?
            .ok_or_else(|| no_webhook(id))?;
        return Ok(Json(success(Listed::One(endpoint))));
    }
    let limit = page_limit(params.limit)? as usize;
    let wanted = params
        .event_type
        .as_deref()
        .map(|types| TypeFilter::parse("event_type", types))
        .transpose()
        .map_err(ApiError::invalid)?;
    let all: Vec<Endpoint> = webhooks::list(&*state.store, principal.scope)
        .await?
        .into_iter()
        .filter(|e| params.active.is_none_or(|active| e.active == active))
        .filter(|e| {
            wanted.as_ref().is_none_or(|wanted| {
                filter_of(&e.events.join(",")).is_some_and(|f| f.overlaps(wanted))
            })
        })
        .collect();
    let total = all.len();
    let webhooks = all
        .into_iter()
        .skip(params.offset.unwrap_or(0) as usize)
        .take(limit)
        .collect();
    Ok(Json(success(Listed::Many { webhooks, total })))
}

/// One webhook endpoint
///
/// Never with its secret.
#[utoipa::path(
    get,
    path = "/api-webhooks/{id}",
    operation_id = "getWebhook",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The endpoint's id."))
)]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Answer<Endpoint> {
    let id = webhook_id(&id)?;
    let endpoint = webhooks::get(&*state.store, principal.scope, id).await?;
    Ok(Json(success(endpoint.ok_or_else(|| no_webhook(id))?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdParam {
    id: Option<String>,
}

fn id_param(params: &IdParam) -> Result<Uuid, ApiError> {
    required_id("id", params.id.as_deref())
}

async fn patch(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    body: PatchBody,
) -> Answer<Endpoint> {
    let change = body
        .check(&state.allowed_networks)
        .map_err(ApiError::invalid)?;
    let endpoint = webhooks::update(&*state.store, principal.scope, id, &change).await?;
    Ok(Json(success(endpoint.ok_or_else(|| no_webhook(id))?)))
}

/// Change a webhook endpoint
///
/// `url`, `events` (or `event_type`), `active`, `description`; fields left out stay. A new URL is checked as when registering.
#[utoipa::path(
    patch,
    path = "/api-webhooks/{id}",
    operation_id = "updateWebhook",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The endpoint's id."))
)]
pub async fn patch_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    _: NoQuery,
    ApiJson(body): ApiJson<PatchBody>,
) -> Answer<Endpoint> {
    patch(&state, &principal, webhook_id(&id)?, body).await
}

/// Change a webhook endpoint named by `?id=`
///
/// As `PATCH /api-webhooks/{id}`, the way Eryxon's clients call it.
#[utoipa::path(
    patch,
    path = "/api-webhooks",
    operation_id = "updateWebhookById",
    tag = TAG
)]
pub async fn patch_by_query(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<IdParam>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Answer<Endpoint> {
    patch(&state, &principal, id_param(&params)?, body).await
}

#[derive(Serialize)]
pub struct Deleted {
    id: Uuid,
    deleted: bool,
}

async fn delete(state: &AppState, principal: &Principal, id: Uuid) -> Answer<Deleted> {
    if !webhooks::delete(&*state.store, principal.scope, id).await? {
        return Err(no_webhook(id));
    }
    Ok(Json(success(Deleted { id, deleted: true })))
}

/// Delete a webhook endpoint
///
/// With its deliveries.
#[utoipa::path(
    delete,
    path = "/api-webhooks/{id}",
    operation_id = "deleteWebhook",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The endpoint's id."))
)]
pub async fn delete_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    _: NoQuery,
) -> Answer<Deleted> {
    delete(&state, &principal, webhook_id(&id)?).await
}

/// Delete a webhook endpoint named by `?id=`
///
/// As `DELETE /api-webhooks/{id}`, the way Eryxon's clients call it.
#[utoipa::path(
    delete,
    path = "/api-webhooks",
    operation_id = "deleteWebhookById",
    tag = TAG
)]
pub async fn delete_by_query(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<IdParam>,
) -> Answer<Deleted> {
    delete(&state, &principal, id_param(&params)?).await
}

/// A new signing secret
///
/// Shown once in the answer. For 24 hours the old secret keeps signing: beside the new one in `webhook-signature`, and alone in `X-Eryxon-Signature`, which switches to the new secret when the 24 hours end. A second rotation within them drops the first secret at once.
#[utoipa::path(
    post,
    path = "/api-webhooks/{id}/rotate-secret",
    operation_id = "rotateWebhookSecret",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The endpoint's id."))
)]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    _: NoQuery,
) -> Answer<Endpoint> {
    let id = webhook_id(&id)?;
    let endpoint = webhooks::rotate(&*state.store, principal.scope, id).await?;
    Ok(Json(success(endpoint.ok_or_else(|| no_webhook(id))?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    webhook_id: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
pub struct DeliveriesView {
    deliveries: Vec<Delivery>,
}

async fn deliveries(
    state: &AppState,
    principal: &Principal,
    webhook_id: Option<Uuid>,
    params: DeliveryParams,
) -> Answer<DeliveriesView> {
    if let Some(status) = params.status.as_deref() {
        if !STATUSES.contains(&status) {
            return Err(ApiError::invalid(FieldError::new(
                "status",
                format!("must be one of {} (got {status:?})", STATUSES.join(", ")),
            )));
        }
    }
    if let Some(id) = webhook_id {
        webhooks::get(&*state.store, principal.scope, id)
            .await?
            .ok_or_else(|| no_webhook(id))?;
    }
    let query = DeliveryQuery {
        webhook_id,
        status: params.status,
        limit: page_limit(params.limit)?,
        offset: params.offset.unwrap_or(0),
    };
    let deliveries = delivery_log::list(&*state.store, principal.scope, &query).await?;
    Ok(Json(success(DeliveriesView { deliveries })))
}

/// What was delivered to an endpoint
///
/// Newest first, each delivery with its event as sent and every attempt (time, HTTP status or error, latency, first KiB of the answer).
#[utoipa::path(
    get,
    path = "/api-webhooks/{id}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = TAG,
    params(("id" = Uuid, Path, description = "The endpoint's id."))
)]
pub async fn deliveries_of(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Answer<DeliveriesView> {
    if params.webhook_id.is_some() {
        return Err(ApiError::invalid(FieldError::new(
            "webhook_id",
            "is given by the path here",
        )));
    }
    let id = webhook_id(&id)?;
    deliveries(&state, &principal, Some(id), params).await
}

/// Webhook delivery log
///
/// Eryxon's name for the deliveries: every endpoint's of the tenant, or one endpoint's with `?webhook_id=`.
#[utoipa::path(
    get,
    path = "/api-webhook-logs",
    operation_id = "listWebhookLogs",
    tag = TAG
)]
pub async fn logs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Answer<DeliveriesView> {
    let id = params
        .webhook_id
        .as_deref()
        .map(|id| required_id("webhook_id", Some(id)))
        .transpose()?;
    deliveries(&state, &principal, id, params).await
}
