//! `PUT /api-{entity}/sync` and `POST /api-{entity}/bulk-sync`.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::json::{ApiJson, ApiQuery};
use super::metrics;
use super::refusals::Recorded;
use super::{success, AppState};
use crate::domain::batch::{prepare_bulk, prepare_one, BulkBody};
use crate::domain::decode::FieldError;
use crate::domain::history::{Answer, HistoryDraft};
use crate::domain::outcome::{
    merged, Change, Counts, ErrorCode, Kept, RecordError, RecordResult, Synced,
};
use crate::domain::record::{Children, Payload};
use crate::domain::Entity;
use crate::store::{Finish, Written};

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
    #[serde(skip_serializing_if = "<[Kept]>::is_empty")]
    kept: &'a [Kept],
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
            kept: &synced.kept,
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
    /// The request's `children` mode, which only jobs have.
    fn children(&self, entity: Entity) -> Result<Option<Children>, ApiError> {
        match self.children {
            Some(_) if entity != Entity::Jobs => Err(ApiError::invalid(FieldError::new(
                "children",
                "applies to jobs only",
            ))),
            children => Ok(children),
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

/// The call's draft history entry: everything but the results the store writes. Also the
/// `refusals` layer's, for a call refused before its handler ran.
pub(super) fn draft(
    principal: &Principal,
    headers: &HeaderMap,
    entity: Entity,
    answer: Answer,
    finish: Finish,
) -> HistoryDraft {
    HistoryDraft {
        key_id: principal.key_id,
        endpoint: answer.endpoint(entity),
        entity,
        sources: Vec::new(),
        dry_run: finish == Finish::DryRun,
        started: Instant::now(),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        answer,
        rejected: Vec::new(),
    }
}

pub async fn sync_one<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    recorded: Option<Extension<Recorded>>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<SyncParams>,
    payload: Result<ApiJson<P>, ApiError>,
) -> Result<Response, ApiError> {
    let finish = params.finish();
    let mut draft = draft(&principal, &headers, P::ENTITY, Answer::Single, finish);
    let recorded = recorded.map(|Extension(r)| r).unwrap_or_default();
    let payload = decoded(payload, &state, &principal, &draft, &recorded).await?;
    let batch = match prepare_one(payload, params.children(P::ENTITY)?) {
        Ok(batch) => batch,
        Err(error) => return Err(refused(&state, &principal, draft, error, &recorded).await),
    };
    draft.sources = batch.sources();
    let written = (state.store)
        .sync_recorded(principal.scope, batch, finish, Some(draft))
        .await?;
    recorded.mark();
    written.commit.durable().await?;
    if finish == Finish::Commit {
        metrics::count_records(P::ENTITY, &Counts::of(&written.results));
    }
    let result = written.results.into_iter().next();
    let synced = result.expect("one record in, one result out").outcome;
    let synced = synced.map_err(ApiError::rejected)?;
    let status = match synced.change {
        Change::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    let view = SingleView {
        synced: SyncedView::of(&synced, finish),
        dry_run: finish == Finish::DryRun,
    };
    Ok((status, Json(success(view))).into_response())
}

/// The body, or why not. A body whose record is invalid (a validation error) is a refused
/// record, kept in the history like any other
/// (`history::a_body_refused_as_invalid_is_in_the_history`); a call refused as a whole (too
/// large, not JSON) is kept by the `refusals` layer.
async fn decoded<T>(
    body: Result<ApiJson<T>, ApiError>,
    state: &AppState,
    principal: &Principal,
    draft: &HistoryDraft,
    recorded: &Recorded,
) -> Result<T, ApiError> {
    match body {
        Ok(ApiJson(body)) => Ok(body),
        // Only a field's error is a refused record. A body that is no record at all (not
        // JSON, a list, unreadable), or a bulk call refused whole, is the `refusals` layer's
        // to keep, with no records (`history::a_call_refused_whole_is_in_the_history`).
        Err(ApiError::Validation { message, details })
            if details.first().is_some_and(|d| d.field.is_some())
                && draft.answer == Answer::Single =>
        {
            let error = RecordError::invalid(details[0].clone());
            refused(state, principal, draft.clone(), error, recorded).await;
            Err(ApiError::Validation { message, details })
        }
        Err(error) => Err(error),
    }
}

/// A single record refused before the store saw it: recorded in the history (a failure to
/// record is logged, not answered: the client's error is its record's), and answered.
async fn refused(
    state: &AppState,
    principal: &Principal,
    mut draft: HistoryDraft,
    error: RecordError,
    recorded: &Recorded,
) -> ApiError {
    draft.rejected.push(RecordResult {
        index: 0,
        external_id: None,
        outcome: Err(error.clone()),
    });
    let entry = draft.entry(&[]);
    if !entry.dry_run {
        metrics::count_records(entry.entity, &entry.counts);
    }
    if let Err(error) = state
        .store
        .record_refused_call(principal.scope, &entry)
        .await
    {
        tracing::error!(%error, "could not record the sync in the history");
    }
    recorded.mark();
    ApiError::rejected(error)
}

pub async fn sync_bulk<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    recorded: Option<Extension<Recorded>>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<SyncParams>,
    body: Result<ApiJson<BulkBody<P>>, ApiError>,
) -> Result<Response, ApiError> {
    let finish = params.finish();
    let mut draft = draft(&principal, &headers, P::ENTITY, Answer::Bulk, finish);
    let recorded = recorded.map(|Extension(r)| r).unwrap_or_default();
    let body = decoded(body, &state, &principal, &draft, &recorded).await?;
    let prepared = prepare_bulk(body, params.children(P::ENTITY)?).map_err(ApiError::invalid)?;
    let batch = prepared.batch;
    draft.sources = batch.sources();
    draft.rejected = prepared.rejected.clone();
    let Written { results, commit } = (state.store)
        .sync_recorded(principal.scope, batch, finish, Some(draft))
        .await?;
    recorded.mark();
    let results = merged(results, prepared.rejected);
    let counts = Counts::of(&results);
    let view = BulkView {
        counts,
        dry_run: finish == Finish::DryRun,
        results: results.iter().map(|r| ResultView::of(r, finish)).collect(),
    };
    // The answer is made while the commit may still run; it leaves only once durable.
    let answer = Json(success(view)).into_response();
    commit.durable().await?;
    // Counted once durable, as `sync_one` does: a failed commit wrote nothing.
    if finish == Finish::Commit {
        metrics::count_records(P::ENTITY, &counts);
    }
    Ok(answer)
}
