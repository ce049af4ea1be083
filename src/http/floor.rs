//! The shop floor's writes: lifecycle actions on jobs and operations, and their time entries.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::json::{ApiQuery, MaybeJson, NoQuery};
use super::read::{window, Pagination};
use super::{success, AppState, Success};
use crate::domain::decode::FieldError;
use crate::domain::floor::{Machine, Report, ReportBody};
use crate::domain::progress::{JobProgress, OperationProgress, Progress, TimeEntry};
use crate::store::{Acted, RecordRef};

/// `?id=` of Eryxon's lifecycle routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdParam {
    id: Option<String>,
    /// Eryxon's clients may name the operator here; the body's `operator` wins.
    user_id: Option<String>,
}

/// A required id in the query string: missing or malformed is the client's error, told as such.
pub(super) fn required_id(field: &str, id: Option<&str>) -> Result<Uuid, ApiError> {
    let id = id
        .ok_or_else(|| ApiError::invalid(FieldError::new(field, "is required: the record's id")))?;
    Uuid::parse_str(id).map_err(|_| {
        ApiError::invalid(FieldError::new(
            field,
            format!("must be a UUID such as 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b (got {id:?})"),
        ))
    })
}

/// What an operation action answers, as Eryxon's lifecycle API does.
#[derive(Serialize)]
#[serde(untagged)]
pub enum ActedView {
    Operation {
        operation: Box<OperationProgress>,
        operation_type: &'static str,
        previous_status: String,
        new_status: String,
        /// Whether the action closed a time entry, as Eryxon answers it.
        time_entry_ended: bool,
        /// The entry it closed.
        ended_time_entry: Option<TimeEntry>,
    },
    Job {
        job: JobProgress,
        operation: &'static str,
        previous_status: String,
        new_status: String,
    },
}

async fn act(
    state: &AppState,
    principal: Principal,
    machine: Machine,
    action: &str,
    target: RecordRef,
    body: ReportBody,
) -> Result<Json<Success<ActedView>>, ApiError> {
    let action = machine.action(action).map_err(ApiError::invalid)?;
    let report =
        Report::from_body(body, time::OffsetDateTime::now_utc()).map_err(ApiError::invalid)?;
    let acted = state
        .store
        .transition(principal.scope, machine, &target, action, &report)
        .await?;
    let done = match acted {
        Acted::Done(done) => *done,
        Acted::NotFound => {
            return Err(ApiError::NotFound(format!("no such {}", machine.noun())));
        }
        Acted::Refused(message) => return Err(ApiError::InvalidTransition(message)),
        Acted::TooEarly(error) => return Err(ApiError::invalid(error)),
    };
    let name = machine.name(action);
    Ok(Json(success(match done.record {
        Progress::Operation(operation) => ActedView::Operation {
            operation: Box::new(operation),
            operation_type: name,
            previous_status: done.previous_status,
            new_status: done.new_status,
            time_entry_ended: done.time_entry_ended.is_some(),
            ended_time_entry: done.time_entry_ended,
        },
        Progress::Job(job) => ActedView::Job {
            job,
            operation: name,
            previous_status: done.previous_status,
            new_status: done.new_status,
        },
    })))
}

/// `user_id` in the query (as Eryxon's terminals send it) names the operator when the body
/// does not; both at once must agree, or which one counts is a guess.
fn with_operator(mut body: ReportBody, user_id: Option<String>) -> Result<ReportBody, ApiError> {
    if let (Some(operator), Some(user)) = (&body.operator, &user_id) {
        if operator.as_str() != user.as_str() {
            return Err(ApiError::invalid(FieldError::new(
                "user_id",
                format!(
                    "names operator {user:?} but the body says {:?}; send either, or the same",
                    operator.as_str()
                ),
            )));
        }
    }
    if body.operator.is_none() {
        body.operator = user_id
            .map(|id| id.try_into())
            .transpose()
            .map_err(|e: String| ApiError::invalid(FieldError::new("user_id", e)))?;
    }
    Ok(body)
}

/// `POST /api-operation-lifecycle/{action}?id=` and `/api-job-lifecycle/{action}?id=`.
pub async fn by_id(
    State(state): State<AppState>,
    principal: Principal,
    machine: MachineOf,
    Path(action): Path<String>,
    ApiQuery(params): ApiQuery<IdParam>,
    MaybeJson(body): MaybeJson<ReportBody>,
) -> Result<Json<Success<ActedView>>, ApiError> {
    machine.0.action(&action).map_err(ApiError::invalid)?;
    let id = required_id("id", params.id.as_deref())?;
    let body = with_operator(body, params.user_id)?;
    act(
        &state,
        principal,
        machine.0,
        &action,
        RecordRef::Id(id),
        body,
    )
    .await
}

/// `POST /api-{jobs,operations}/by-external/{source}/{external_id}/{action}`.
pub async fn by_external(
    State(state): State<AppState>,
    principal: Principal,
    machine: MachineOf,
    Path((source, external_id, action)): Path<(String, String, String)>,
    _: NoQuery,
    MaybeJson(body): MaybeJson<ReportBody>,
) -> Result<Json<Success<ActedView>>, ApiError> {
    let target = RecordRef::External {
        source,
        external_id,
    };
    act(&state, principal, machine.0, &action, target, body).await
}

/// Which machine a route drives, put in by the router.
#[derive(Debug, Clone, Copy)]
pub struct MachineOf(pub Machine);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MachineOf {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<MachineOf>()
            .copied()
            .ok_or_else(|| ApiError::NotFound("no such endpoint".to_owned()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesParams {
    operation_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
pub struct EntriesView {
    time_entries: Vec<TimeEntry>,
    pagination: Pagination,
}

/// `GET /api-time-entries?operation_id=`: an operation's time entries, oldest first.
pub async fn time_entries(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<EntriesParams>,
) -> Result<Json<Success<EntriesView>>, ApiError> {
    let id = required_id("operation_id", params.operation_id.as_deref())?;
    let window = window(params.limit, params.offset)?;
    let entries = state
        .store
        .time_entries(principal.scope, id, window)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such operation".to_owned()))?;
    Ok(Json(success(EntriesView {
        time_entries: entries.items,
        pagination: Pagination::of(window, entries.total),
    })))
}
