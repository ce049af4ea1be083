//! `GET /api-events`: the tenant's event log, read by following a cursor.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiQuery;
use super::read::page_limit;
use super::{success, AppState, Success};
use crate::domain::decode::FieldError;
use crate::domain::event::{encode_cursor, Cursor, Event, TypeFilter};
use crate::store::{Feed, FeedQuery};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    after: Option<String>,
    /// `job.*,operation.completed`.
    types: Option<String>,
    entity: Option<String>,
    external_source: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
pub struct FeedView {
    events: Vec<Event>,
    next_cursor: String,
    has_more: bool,
}

const ENTITIES: [&str; 5] = ["job", "part", "operation", "cell", "resource"];

fn feed_query(params: FeedParams) -> Result<FeedQuery, ApiError> {
    let after = params
        .after
        .map(|cursor| Cursor::decode("after", &cursor))
        .transpose()
        .map_err(ApiError::invalid)?;
    let types = params
        .types
        .map(|types| TypeFilter::parse("types", &types))
        .transpose()
        .map_err(ApiError::invalid)?
        .unwrap_or_default();
    if let Some(entity) = params.entity.as_deref() {
        if !ENTITIES.contains(&entity) {
            return Err(ApiError::invalid(FieldError::new(
                "entity",
                format!("must be one of {} (got {entity:?})", ENTITIES.join(", ")),
            )));
        }
    }
    // An empty filter matches no event, and a reader that sent one (a blank setting) had its
    // cursor moved past the whole log without a word (`events::the_feed_pages_and_filters`).
    if params.external_source.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::invalid(FieldError::new(
            "external_source",
            "must not be empty; leave it out to read every source",
        )));
    }
    Ok(FeedQuery {
        after: after.as_ref().map(|cursor| cursor.position),
        after_check: after,
        types,
        entity: params.entity,
        external_source: params.external_source,
        limit: page_limit(params.limit)?,
        ..FeedQuery::default()
    })
}

/// One page of events after `after`, oldest first; `next_cursor` continues from its last.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<FeedParams>,
) -> Result<Json<Success<FeedView>>, ApiError> {
    let query = feed_query(params)?;
    match state.store.events(principal.scope, &query).await? {
        Feed::Page {
            events,
            next,
            next_id,
            has_more,
        } => Ok(Json(success(FeedView {
            events,
            next_cursor: Cursor::after(next, next_id.as_deref()).encode(),
            has_more,
        }))),
        Feed::Expired => Err(ApiError::CursorExpired {
            days: state.retention_days,
        }),
        Feed::Ahead { newest } => Err(ApiError::invalid(FieldError::new(
            "after",
            format!(
                "is past the newest event of this feed ({}): not a cursor this feed gave \
                 out (another server's, tenant's or mode's, or one from before the database \
                 was restored); read from the start without `after`",
                encode_cursor(newest)
            ),
        ))),
        Feed::Foreign { newest } => Err(ApiError::invalid(FieldError::new(
            "after",
            format!(
                "is not a cursor of this feed: the event at its place is not the one it was \
                 given out after, so the events after it are not the ones it followed (the \
                 database was restored from a backup since, or it is another tenant's or \
                 mode's cursor); read from the start without `after`, skipping the events whose \
                 `id` you already have (the newest is {})",
                encode_cursor(newest)
            ),
        ))),
    }
}

/// `GET /api-events/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Success<Event>>, ApiError> {
    state
        .store
        .event(principal.scope, &id)
        .await?
        .map(|event| Json(success(event)))
        .ok_or_else(|| ApiError::NotFound(format!("no event with id {id:?}")))
}
