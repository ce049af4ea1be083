//! `PUT /api-{entity}/sync` and `POST /api-{entity}/bulk-sync`.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::json::{ApiJson, ApiQuery};
use super::{success, AppState};
use crate::domain::batch::{prepare_bulk, prepare_one, BulkBody};
use crate::domain::decode::FieldError;
use crate::domain::outcome::{Change, Counts, ErrorCode, RecordError, RecordResult, Synced};
use crate::domain::record::{Children, Payload, SyncBatch};
use crate::domain::Entity;
use crate::store::{Finish, History, ImportEntry, Written};

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
                Change::Deleted => "deleted",
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
    /// Jobs only: `replace` deletes stored children the payload leaves out.
    children: Option<Children>,
}

impl SyncParams {
    /// The batch with the request's `children` mode applied, which only jobs have.
    fn apply(&self, entity: Entity, batch: SyncBatch) -> Result<SyncBatch, ApiError> {
        match self.children {
            None => Ok(batch),
            Some(_) if entity != Entity::Jobs => Err(ApiError::invalid(FieldError::new(
                "children",
                "applies to jobs only",
            ))),
            Some(children) => Ok(batch.with_default_children(children)),
        }
    }

    fn finish(&self) -> Finish {
        if self.dry_run {
            Finish::DryRun
        } else {
            Finish::Commit
        }
    }
}

/// What the sync history needs to know of a call besides its results.
struct Call {
    started: Instant,
    endpoint: String,
    finish: Finish,
    request_id: Option<String>,
}

impl Call {
    fn new(
        method: &str,
        entity: Entity,
        action: &str,
        finish: Finish,
        headers: &HeaderMap,
    ) -> Call {
        Call {
            started: Instant::now(),
            endpoint: format!("{method} /api-{}/{action}", entity.plural()),
            finish,
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// The call's sync-history entry, from the results of every record it carried.
    fn entry(
        &self,
        principal: &Principal,
        entity: Entity,
        sources: &[String],
        status: StatusCode,
        results: &[&[RecordResult]],
    ) -> ImportEntry {
        let all = || results.iter().flat_map(|part| part.iter());
        let error_details: Vec<_> = all()
            .filter_map(|r| {
                let error = r.outcome.as_ref().err()?;
                Some(json!({
                    "index": r.index,
                    "external_id": r.external_id,
                    "code": error.code,
                    "field": error.field,
                    "error": error.describe(),
                }))
            })
            .collect();
        ImportEntry {
            key_id: principal.key_id,
            endpoint: self.endpoint.clone(),
            entity,
            sources: sources.to_vec(),
            dry_run: self.finish == Finish::DryRun,
            status: status.as_u16(),
            counts: results.iter().map(|part| Counts::of(part)).sum(),
            error_details: serde_json::Value::Array(error_details),
            duration_ms: self.started.elapsed().as_millis() as u64,
            request_id: self.request_id.clone(),
        }
    }
}

/// How a single sync is answered: 201 for a new record, 200 for an existing one, and the
/// error's own status for a rejected one.
fn single_status(outcome: &Result<Synced, RecordError>) -> StatusCode {
    match outcome {
        Ok(synced) if synced.change == Change::Created => StatusCode::CREATED,
        Ok(_) => StatusCode::OK,
        Err(error) => ApiError::rejected(error.clone()).status(),
    }
}

pub async fn sync_one<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<SyncParams>,
    ApiJson(payload): ApiJson<P>,
) -> Result<Response, ApiError> {
    let call = Call::new("PUT", P::ENTITY, "sync", params.finish(), &headers);
    let finish = call.finish;
    let result = match prepare_one(payload) {
        Ok(batch) => {
            let batch = params.apply(P::ENTITY, batch)?;
            let sources = batch.sources();
            let history: History = Box::new(move |results: &[RecordResult]| {
                let status = results
                    .first()
                    .map_or(StatusCode::OK, |r| single_status(&r.outcome));
                call.entry(&principal, P::ENTITY, &sources, status, &[results])
            });
            let written = state
                .store
                .sync_recorded(principal.scope, batch, finish, Some(history))
                .await?;
            written.commit.durable().await?;
            let mut results = written.results;
            results.pop().expect("one record in, one result out")
        }
        Err(error) => {
            let result = RecordResult {
                index: 0,
                external_id: None,
                outcome: Err(error),
            };
            let results = [result];
            let entry = call.entry(
                &principal,
                P::ENTITY,
                &[],
                single_status(&results[0].outcome),
                &[&results],
            );
            if let Err(error) = state.store.record_import(principal.scope, &entry).await {
                tracing::error!(%error, "could not record the sync in the history");
            }
            let [result] = results;
            result
        }
    };
    let status = single_status(&result.outcome);
    match result.outcome {
        Ok(synced) => {
            let view = SingleView {
                synced: SyncedView::of(&synced, finish),
                dry_run: finish == Finish::DryRun,
            };
            Ok((status, Json(success(view))).into_response())
        }
        Err(error) => Err(ApiError::rejected(error)),
    }
}

pub async fn sync_bulk<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<SyncParams>,
    ApiJson(body): ApiJson<BulkBody<P>>,
) -> Result<Response, ApiError> {
    let call = Call::new("POST", P::ENTITY, "bulk-sync", params.finish(), &headers);
    let finish = call.finish;
    let prepared = prepare_bulk(body).map_err(ApiError::invalid)?;
    let batch = params.apply(P::ENTITY, prepared.batch)?;
    let rejected = prepared.rejected;
    let sources = batch.sources();
    let rejected_before = rejected.clone();
    let history: History = Box::new(move |written: &[RecordResult]| {
        call.entry(
            &principal,
            P::ENTITY,
            &sources,
            StatusCode::OK,
            &[written, &rejected_before],
        )
    });
    let Written {
        mut results,
        commit,
    } = state
        .store
        .sync_recorded(principal.scope, batch, finish, Some(history))
        .await?;
    results.extend(rejected);
    results.sort_by_key(|r| r.index);
    let view = BulkView {
        counts: Counts::of(&results),
        dry_run: finish == Finish::DryRun,
        results: results.iter().map(|r| ResultView::of(r, finish)).collect(),
    };
    // The answer is made while the commit may still run; it leaves only once durable.
    let answer = Json(success(view)).into_response();
    commit.durable().await?;
    Ok(answer)
}
