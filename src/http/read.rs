//! `GET /api-{entity}` and `GET /api-{entity}/{id}`: what the MES holds.

use axum::extract::{Path, State};
use axum::Json;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::json::{ApiQuery, NoQuery};
use super::{success, AppState, Success};
use crate::domain::decode::FieldError;
use crate::domain::record::Payload;
use crate::domain::value::{ResourceStatus, WorkStatus};
use crate::domain::view::RecordView;
use crate::domain::Entity;
use crate::store::listing::{decode_cursor, encode_cursor};
use crate::store::{timestamp_of, Deletion, ListQuery, RecordRef, Sort, Window};

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    external_source: Option<String>,
    /// One external id, or several separated by commas.
    external_id: Option<String>,
    search: Option<String>,
    status: Option<String>,
    updated_since: Option<String>,
    job_external_id: Option<String>,
    part_external_id: Option<String>,
    cell_name: Option<String>,
    sort: Option<String>,
    /// Also accepted as `direction`, the name Eryxon's hosted API uses.
    #[serde(alias = "direction")]
    order: Option<String>,
    cursor: Option<String>,
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
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl Pagination {
    /// A page of a list read by offset alone.
    pub fn of(window: Window, total: u64) -> Self {
        Pagination {
            limit: window.limit,
            offset: window.offset,
            total,
            next_cursor: None,
        }
    }
}

/// The window `limit` and `offset` ask for (the limit checked as [`page_limit`] does).
pub fn window(limit: Option<u32>, offset: Option<u32>) -> Result<Window, ApiError> {
    Ok(Window {
        limit: page_limit(limit)?,
        offset: offset.unwrap_or(0),
    })
}

/// `{"<entity plural>": [...], "pagination": {...}}`.
struct ListView {
    key: &'static str,
    records: Vec<RecordView>,
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
        return Err(ApiError::invalid(FieldError::new(
            "limit",
            format!("must be from 1 to {MAX_PAGE} (got {limit})"),
        )));
    }
    Ok(limit)
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::invalid(FieldError::new(field, message))
}

/// Refuses a filter the entity does not have.
fn only_for(
    entity: Entity,
    field: &str,
    value: Option<String>,
    owner: Entity,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(_) if entity != owner => Err(invalid(
            field,
            format!("filters {} only, not {}", owner.plural(), entity.plural()),
        )),
        value => not_blank(field, value),
    }
}

/// Refuses a filter given with no value (`?external_source=`): no record has a blank identity,
/// so it is a mistake, such as an unset variable in a connector.
fn not_blank(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.is_empty() => Err(blank(field)),
        value => Ok(value),
    }
}

fn blank(field: &str) -> ApiError {
    invalid(
        field,
        "is empty: give a value or leave the filter out".to_owned(),
    )
}

fn status_filter(entity: Entity, status: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(status) = status else {
        return Ok(None);
    };
    let quoted = serde_json::Value::String(status.clone());
    let known = match entity {
        Entity::Cells => return Err(invalid("status", "cells have no status".to_owned())),
        Entity::Resources => serde_json::from_value::<ResourceStatus>(quoted).is_ok(),
        _ => serde_json::from_value::<WorkStatus>(quoted).is_ok(),
    };
    if known {
        Ok(Some(status))
    } else {
        Err(invalid(
            "status",
            format!("{status:?} is not a {} status", entity.singular()),
        ))
    }
}

fn since_filter(since: Option<String>) -> Result<Option<String>, ApiError> {
    since
        .map(|text| {
            crate::domain::instant::parse("updated_since", &text)
                .map(timestamp_of)
                .map_err(ApiError::invalid)
        })
        .transpose()
}

fn sort_of(entity: Entity, sort: Option<String>, order: Option<String>) -> Result<Sort, ApiError> {
    let allowed = Sort::allowed(entity);
    let column = match sort {
        None => "id",
        Some(name) => allowed
            .iter()
            .copied()
            .find(|c| *c == name)
            .ok_or_else(|| {
                invalid(
                    "sort",
                    format!("must be one of {} (got {name:?})", allowed.join(", ")),
                )
            })?,
    };
    let descending = match order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(invalid(
                "order",
                format!("must be asc or desc (got {other:?})"),
            ))
        }
    };
    Ok(Sort { column, descending })
}

/// The searched fields hold at most 255 characters, so a longer text finds nothing; refusing it
/// also bounds the case-insensitive pattern SQLite compiles from it.
const SEARCH_MAX_CHARS: usize = 255;

fn search_filter(search: Option<String>) -> Result<Option<String>, ApiError> {
    match search {
        Some(text) if text.chars().count() > SEARCH_MAX_CHARS => Err(invalid(
            "search",
            format!("must be at most {SEARCH_MAX_CHARS} characters"),
        )),
        search => Ok(search.filter(|s| !s.is_empty())),
    }
}

fn list_query(entity: Entity, params: ListParams) -> Result<ListQuery, ApiError> {
    let limit = page_limit(params.limit)?;
    let sort = sort_of(entity, params.sort, params.order)?;
    let after = match params.cursor {
        None => None,
        Some(cursor) => {
            if params.offset.unwrap_or(0) != 0 || !sort.follows_ids() {
                return Err(invalid(
                    "cursor",
                    "walks in creation order: use it without offset and without sort (or sort=created_at)"
                        .to_owned(),
                ));
            }
            Some(decode_cursor(&cursor).ok_or_else(|| {
                invalid(
                    "cursor",
                    "is not a cursor this server handed out".to_owned(),
                )
            })?)
        }
    };
    let external_ids: Vec<String> = params
        .external_id
        .map(|ids| {
            // Exact, as every identity is compared: `SO-1 ` is a record of its own
            // (`listing::every_filter_narrows_the_list`).
            ids.split(',')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|ids| match ids.is_empty() {
            // An empty list (a connector's empty batch) would match every record, as no
            // filter does (`listing::bad_filters_are_refused`).
            true => Err(blank("external_id")),
            false => Ok(ids),
        })
        .transpose()?
        .unwrap_or_default();
    Ok(ListQuery {
        external_source: not_blank("external_source", params.external_source)?,
        external_ids,
        search: search_filter(params.search)?,
        status: status_filter(entity, params.status)?,
        updated_since: since_filter(params.updated_since)?,
        job_external_id: only_for(
            entity,
            "job_external_id",
            params.job_external_id,
            Entity::Parts,
        )?,
        part_external_id: only_for(
            entity,
            "part_external_id",
            params.part_external_id,
            Entity::Operations,
        )?,
        cell_name: only_for(entity, "cell_name", params.cell_name, Entity::Operations)?,
        sort,
        after,
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
    let query = list_query(P::ENTITY, params)?;
    let page = state.store.list(principal.scope, P::ENTITY, &query).await?;
    let full = page.records.len() == query.limit as usize;
    // A cursor walks in creation order only: a page in another order gives none, as a client
    // that followed it would get a refusal or skip records
    // (`listing::a_sorted_page_gives_no_cursor`).
    let walks = full && query.sort.follows_ids();
    let next_cursor = page.last_id.filter(|_| walks).map(encode_cursor);
    Ok(Json(success(ListView {
        key: P::ENTITY.plural(),
        records: page.records,
        pagination: Pagination {
            limit: query.limit,
            offset: query.offset,
            total: page.total,
            next_cursor,
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
) -> Result<Json<Success<RecordView>>, ApiError> {
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
) -> Result<Json<Success<RecordView>>, ApiError> {
    let target = record_id(P::ENTITY, &id)?;
    fetch(&state, principal, P::ENTITY, target, params).await
}

pub async fn get_by_external<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    Path((source, external_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<GetParams>,
) -> Result<Json<Success<RecordView>>, ApiError> {
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
        Deletion::FloorWorked { records } => Err(ApiError::Conflict(format!(
            "the shop floor has worked on this {} ({}); its progress is the floor's, so it cannot \
             be deleted",
            entity.singular(),
            records.join(", ")
        ))),
        Deletion::InUse { operations } => Err(ApiError::Conflict(format!(
            "{operations} live operation(s) still run in this cell; move or delete them first"
        ))),
    }
}

pub async fn delete_one<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    _: NoQuery,
) -> Result<Json<Success<DeletedView>>, ApiError> {
    let target = record_id(P::ENTITY, &id)?;
    remove(&state, principal, P::ENTITY, target).await
}

pub async fn delete_by_external<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    Path((source, external_id)): Path<(String, String)>,
    _: NoQuery,
) -> Result<Json<Success<DeletedView>>, ApiError> {
    remove(&state, principal, P::ENTITY, external(source, external_id)).await
}
