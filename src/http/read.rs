//! `GET /api-{entity}` and `GET /api-{entity}/{id}`: what the MES holds.

use axum::extract::{Path, State};
use axum::Json;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiQuery;
use super::{success, AppState, Success};
use crate::domain::record::Payload;
use crate::domain::Entity;
use crate::store::{Deletion, ListQuery, RecordRef};

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    external_source: Option<String>,
    external_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
    #[serde(default)]
    include_deleted: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    #[serde(default)]
    include_deleted: bool,
}

#[derive(Serialize)]
pub struct Pagination {
    pub limit: u32,
    pub offset: u32,
    pub total: u64,
}

/// `{"<entity plural>": [...], "pagination": {...}}`.
struct ListView {
    key: &'static str,
    records: Vec<Box<RawValue>>,
    pagination: Pagination,
}

impl Serialize for ListView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(self.key, &self.records)?;
        map.serialize_entry("pagination", &self.pagination)?;
        map.end()
    }
}

/// A page size from the query string: 1 to 1000, 100 when not given.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(crate::domain::decode::FieldError::new(
            "limit",
            format!("must be from 1 to {MAX_PAGE} (got {limit})"),
        )));
    }
    Ok(limit)
}

fn list_query(params: ListParams) -> Result<ListQuery, ApiError> {
    let limit = page_limit(params.limit)?;
    Ok(ListQuery {
        external_source: params.external_source,
        external_id: params.external_id,
        limit,
        offset: params.offset.unwrap_or(0),
        include_deleted: params.include_deleted,
    })
}

pub async fn list<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Success<impl Serialize>>, ApiError> {
    let query = list_query(params)?;
    let page = state.store.list(principal.scope, P::ENTITY, &query).await?;
    Ok(Json(success(ListView {
        key: P::ENTITY.plural(),
        records: page.records,
        pagination: Pagination {
            limit: query.limit,
            offset: query.offset,
            total: page.total,
        },
    })))
}

fn no_record(entity: Entity, named: &str) -> ApiError {
    ApiError::NotFound(format!("no {} {named}", entity.singular()))
}

/// A record id from the path; anything that is not a UUID names no record.
fn record_id(entity: Entity, id: &str) -> Result<RecordRef, ApiError> {
    Uuid::parse_str(id)
        .map(RecordRef::Id)
        .map_err(|_| no_record(entity, &format!("with id {id:?}")))
}

fn external(source: String, external_id: String) -> RecordRef {
    RecordRef::External {
        source,
        external_id,
    }
}

async fn fetch(
    state: &AppState,
    principal: Principal,
    entity: Entity,
    target: RecordRef,
    params: GetParams,
) -> Result<Json<Success<Box<RawValue>>>, ApiError> {
    state
        .store
        .get(principal.scope, entity, &target, params.include_deleted)
        .await?
        .map(|record| Json(success(record)))
        .ok_or_else(|| no_record(entity, &describe(&target)))
}

fn describe(target: &RecordRef) -> String {
    match target {
        RecordRef::Id(id) => format!("with id {id}"),
        RecordRef::External {
            source,
            external_id,
        } => format!("with external_id {external_id:?} in source {source:?}"),
    }
}

pub async fn get_one<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<GetParams>,
) -> Result<Json<Success<Box<RawValue>>>, ApiError> {
    let target = record_id(P::ENTITY, &id)?;
    fetch(&state, principal, P::ENTITY, target, params).await
}

pub async fn get_by_external<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    Path((source, external_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<GetParams>,
) -> Result<Json<Success<Box<RawValue>>>, ApiError> {
    let target = external(source, external_id);
    fetch(&state, principal, P::ENTITY, target, params).await
}

#[derive(Serialize)]
pub struct DeletedView {
    id: Uuid,
    external_id: String,
    deleted: bool,
    deleted_parts: u64,
    deleted_operations: u64,
}

async fn remove(
    state: &AppState,
    principal: Principal,
    entity: Entity,
    target: RecordRef,
) -> Result<Json<Success<DeletedView>>, ApiError> {
    match state.store.delete(principal.scope, entity, &target).await? {
        Deletion::Deleted {
            id,
            external_id,
            parts,
            operations,
        } => Ok(Json(success(DeletedView {
            id,
            external_id,
            deleted: true,
            deleted_parts: parts,
            deleted_operations: operations,
        }))),
        Deletion::NotFound => Err(no_record(entity, &describe(&target))),
        Deletion::InUse { operations } => Err(ApiError::Conflict(format!(
            "{operations} live operation(s) still run in this cell; move or delete them first"
        ))),
    }
}

pub async fn delete_one<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Success<DeletedView>>, ApiError> {
    let target = record_id(P::ENTITY, &id)?;
    remove(&state, principal, P::ENTITY, target).await
}

pub async fn delete_by_external<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    Path((source, external_id)): Path<(String, String)>,
) -> Result<Json<Success<DeletedView>>, ApiError> {
    remove(&state, principal, P::ENTITY, external(source, external_id)).await
}
