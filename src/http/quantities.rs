//! `POST /api-operation-quantities` and `GET /api-operation-quantities?operation_id=`: what the
//! floor produced on an operation (good, scrap, rework), reported once per `client_event_id`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Principal;
use super::error::ApiError;
use super::floor::required_id;
use super::json::{ApiJson, ApiQuery, NoQuery};
use super::read::{window, Pagination};
use super::{success, AppState, Success};
use crate::domain::quantity::{NewReport, QuantityBody, QuantityReport, Recorded, Reported};

pub(super) const TAG: &str = "Shop floor";

/// Report produced quantities
///
/// Adds good, scrap and rework units to an operation's totals (and its part's), marks it as the floor's, and writes a `production.quantity_reported` event. A retry with the same `client_event_id` answers the first report (200) and counts it once.
#[utoipa::path(
    post,
    path = "/api-operation-quantities",
    operation_id = "reportQuantity",
    tag = TAG
)]
pub async fn report(
    State(state): State<AppState>,
    principal: Principal,
    _: NoQuery,
    ApiJson(body): ApiJson<QuantityBody>,
) -> Result<(StatusCode, Json<Success<Recorded>>), ApiError> {
    let report =
        NewReport::from_body(body, time::OffsetDateTime::now_utc()).map_err(ApiError::invalid)?;
    match state
        .store
        .report_quantity(principal.scope, &report)
        .await?
    {
        Reported::Created(recorded) => Ok((StatusCode::CREATED, Json(success(*recorded)))),
        Reported::Replayed(recorded) => Ok((StatusCode::OK, Json(success(*recorded)))),
        Reported::Mismatch(fields) => Err(ApiError::IdempotencyMismatch(format!(
            "client_event_id {:?} was sent before with a different report (it differs in {}); \
             send a new client_event_id for a new report",
            report.client_event_id.unwrap_or_default(),
            fields.join(", ")
        ))),
        Reported::NotFound => Err(ApiError::NotFound("no such operation".to_owned())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsParams {
    operation_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
pub struct ReportsView {
    quantity_reports: Vec<QuantityReport>,
    pagination: Pagination,
}

/// An operation's quantity reports, oldest first
#[utoipa::path(
    get,
    path = "/api-operation-quantities",
    operation_id = "listQuantityReports",
    tag = TAG
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ReportsParams>,
) -> Result<Json<Success<ReportsView>>, ApiError> {
    let id = required_id("operation_id", params.operation_id.as_deref())?;
    let window = window(params.limit, params.offset)?;
    let reports = state
        .store
        .quantity_reports(principal.scope, id, window)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such operation".to_owned()))?;
    Ok(Json(success(ReportsView {
        quantity_reports: reports.items,
        pagination: Pagination::of(window, reports.total),
    })))
}
