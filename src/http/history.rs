//! `GET /api-sync/imports` and `GET /api-sync/imports/{id}`: what happened to each sync call.

use axum::extract::{Path, State};
use axum::Json;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiQuery;
use super::read::{page_limit, Pagination};
use super::{success, AppState, Success};
use crate::domain::decode::FieldError;
use crate::domain::history::ImportOutcome;
use crate::domain::Entity;
use crate::store::{ImportQuery, ImportRecord, Window};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    entity: Option<String>,
    /// `clean`, `rejected` or `failed`, as the console filters.
    outcome: Option<String>,
    /// The `X-Request-Id` of the call, as an ERP reports a failure.
    request_id: Option<String>,
    /// An entry's id: only the entries older than it, for pages that new calls do not shift.
    before: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

pub struct ImportsView {
    imports: Vec<ImportRecord>,
    pagination: Pagination,
}

impl Serialize for ImportsView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("imports", &self.imports)?;
        map.serialize_entry("pagination", &self.pagination)?;
        map.end()
    }
}

fn outcome_named(name: &str) -> Result<ImportOutcome, ApiError> {
    ImportOutcome::parse(name).ok_or_else(|| {
        ApiError::invalid(FieldError::new(
            "outcome",
            format!("must be one of clean, rejected, failed (got {name:?})"),
        ))
    })
}

fn entry_named(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::invalid(FieldError::new(
            "before",
            format!("must be a sync-history entry's id, a UUID (got {id:?})"),
        ))
    })
}

fn entity_named(name: &str) -> Result<Entity, ApiError> {
    Entity::ALL
        .into_iter()
        .find(|e| e.plural() == name)
        .ok_or_else(|| {
            ApiError::invalid(FieldError::new(
                "entity",
                format!("must be one of jobs, parts, operations, cells, resources (got {name:?})"),
            ))
        })
}

/// Sync history, newest first
///
/// Every sync and bulk-sync call of the key's tenant and mode: endpoint, key, sources, dry run, HTTP status, counts, duration and request id.
// The document lists its query parameters (`ImportParams`) in `openapi/mod.rs`, with the
// shared page parameters.
#[utoipa::path(
    get,
    path = "/api-sync/imports",
    operation_id = "listImports",
    tag = "Sync history"
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ImportParams>,
) -> Result<Json<Success<ImportsView>>, ApiError> {
    let query = ImportQuery {
        entity: params.entity.as_deref().map(entity_named).transpose()?,
        outcome: params.outcome.as_deref().map(outcome_named).transpose()?,
        request_id: params.request_id,
        before: params.before.as_deref().map(entry_named).transpose()?,
        limit: page_limit(params.limit)?,
        offset: params.offset.unwrap_or(0),
        ..ImportQuery::default()
    };
    let (imports, total) = state.store.list_imports(principal.scope, &query).await?;
    Ok(Json(success(ImportsView {
        imports,
        pagination: Pagination::of(
            Window {
                limit: query.limit,
                offset: query.offset,
            },
            total,
        ),
    })))
}

/// One history entry with its per-record errors
#[utoipa::path(
    get,
    path = "/api-sync/imports/{id}",
    operation_id = "getImport",
    tag = "Sync history",
    params(("id" = Uuid, Path, description = "The entry's id."))
)]
pub async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Success<ImportRecord>>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no sync-history entry with id {id:?}"));
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    state
        .store
        .get_import(principal.scope, id)
        .await?
        .map(|entry| Json(success(entry)))
        .ok_or_else(not_found)
}
