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
use crate::store::ListQuery;

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    external_source: Option<String>,
    external_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
struct Pagination {
    limit: u32,
    offset: u32,
    total: u64,
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

fn list_query(params: ListParams) -> Result<ListQuery, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(crate::domain::decode::FieldError::new(
            "limit",
            format!("must be from 1 to {MAX_PAGE} (got {limit})"),
        )));
    }
    Ok(ListQuery {
        external_source: params.external_source,
        external_id: params.external_id,
        limit,
        offset: params.offset.unwrap_or(0),
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

pub async fn get_one<P: Payload>(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Success<Box<RawValue>>>, ApiError> {
    let entity = P::ENTITY;
    let not_found = || ApiError::NotFound(format!("no {} with id {id:?}", entity.singular()));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let record = state
        .store
        .get(principal.scope, entity, uuid)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(success(record)))
}
