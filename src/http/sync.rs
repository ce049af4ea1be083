//! `PUT /api-{entity}/sync` and `POST /api-{entity}/bulk-sync`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::json::{ApiJson, ApiQuery};
use super::{success, AppState};
use crate::domain::batch::{prepare_bulk, prepare_one, BulkBody};
use crate::domain::outcome::{Change, Counts, ErrorCode, RecordResult, Synced};
use crate::domain::record::Payload;
use crate::store::Finish;

/// A synced record as the API shows it, with its nested children.
#[derive(Serialize)]
struct SyncedView<'a> {
    external_id: &'a str,
    /// Absent for a record a dry run would create: no such id will ever exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    action: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unchanged: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parts: Vec<SyncedView<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    operations: Vec<SyncedView<'a>>,
}

impl<'a> SyncedView<'a> {
    fn of(synced: &'a Synced, finish: Finish) -> Self {
        let provisional = finish == Finish::DryRun && synced.change == Change::Created;
        SyncedView {
            external_id: &synced.external_id,
            id: (!provisional).then_some(synced.id),
            action: match synced.change {
                Change::Created => "created",
                Change::Updated | Change::Unchanged => "updated",
            },
            unchanged: synced.change == Change::Unchanged,
            parts: synced
                .parts
                .iter()
                .map(|p| SyncedView::of(p, finish))
                .collect(),
            operations: synced
                .operations
                .iter()
                .map(|o| SyncedView::of(o, finish))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct RejectedView<'a> {
    external_id: Option<&'a str>,
    action: &'static str,
    error: String,
    code: ErrorCode,
    field: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutcomeView<'a> {
    Synced(SyncedView<'a>),
    Rejected(RejectedView<'a>),
}

#[derive(Serialize)]
struct ResultView<'a> {
    index: usize,
    #[serde(flatten)]
    outcome: OutcomeView<'a>,
}

impl<'a> ResultView<'a> {
    fn of(result: &'a RecordResult, finish: Finish) -> Self {
        let outcome = match &result.outcome {
            Ok(synced) => OutcomeView::Synced(SyncedView::of(synced, finish)),
            Err(error) => OutcomeView::Rejected(RejectedView {
                external_id: result.external_id.as_deref(),
                action: "error",
                error: error.describe(),
                code: error.code,
                field: error.field.as_deref(),
            }),
        };
        ResultView {
            index: result.index,
            outcome,
        }
    }
}

#[derive(Serialize)]
struct BulkView<'a> {
    #[serde(flatten)]
    counts: Counts,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
    results: Vec<ResultView<'a>>,
}

#[derive(Serialize)]
struct SingleView<'a> {
    #[serde(flatten)]
    synced: SyncedView<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
}

/// Query parameters of the sync endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    /// Answer what the sync would do, and write nothing.
    #[serde(default)]
    dry_run: bool,
}

impl SyncParams {
    fn finish(&self) -> Finish {
        if self.dry_run {
            Finish::DryRun
        } else {
            Finish::Commit
        }
    }
}

pub async fn sync_one<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<SyncParams>,
    ApiJson(payload): ApiJson<P>,
) -> Result<Response, ApiError> {
    let finish = params.finish();
    let batch = prepare_one(payload).map_err(ApiError::rejected)?;
    let result = state
        .store
        .sync(principal.scope, batch, finish)
        .await?
        .pop()
        .expect("one record in, one result out");
    let synced = result.outcome.map_err(ApiError::rejected)?;
    let status = match synced.change {
        Change::Created => StatusCode::CREATED,
        Change::Updated | Change::Unchanged => StatusCode::OK,
    };
    let view = SingleView {
        synced: SyncedView::of(&synced, finish),
        dry_run: finish == Finish::DryRun,
    };
    Ok((status, Json(success(view))).into_response())
}

pub async fn sync_bulk<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<SyncParams>,
    ApiJson(body): ApiJson<BulkBody<P>>,
) -> Result<Response, ApiError> {
    let finish = params.finish();
    let prepared = prepare_bulk(body).map_err(ApiError::invalid)?;
    let mut results = state
        .store
        .sync(principal.scope, prepared.batch, finish)
        .await?;
    results.extend(prepared.rejected);
    results.sort_by_key(|r| r.index);
    let view = BulkView {
        counts: Counts::of(&results),
        dry_run: finish == Finish::DryRun,
        results: results.iter().map(|r| ResultView::of(r, finish)).collect(),
    };
    Ok(Json(success(view)).into_response())
}
