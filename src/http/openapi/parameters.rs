//! The parameters of the operations. utoipa 5 has no `components/parameters`, so each
//! operation lists its own.

use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Required;

use super::schemas::{boolean, one_of, string, uuid, with_default, S};
use crate::domain::schema::Entity;
use crate::domain::value::{ResourceStatus, WorkStatus};
use crate::http::read::{DEFAULT_PAGE, MAX_PAGE};
use crate::store::listing::searched;
use crate::store::Sort;

fn parameter(name: &str, place: ParameterIn, schema: S, description: &str) -> Parameter {
    let required = if place == ParameterIn::Path {
        Required::True
    } else {
        Required::False
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(required)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

pub fn query(name: &str, schema: S, description: &str) -> Parameter {
    parameter(name, ParameterIn::Query, schema, description)
}

pub fn path(name: &str, schema: S, description: &str) -> Parameter {
    parameter(name, ParameterIn::Path, schema, description)
}

pub fn path_id(description: &str) -> Parameter {
    parameter("id", ParameterIn::Path, uuid(), description)
}

pub fn record_id() -> Parameter {
    path_id(
        "The record's id as the MES gave it. Anything that is not a UUID names no record (404).",
    )
}

pub fn external_key() -> [Parameter; 2] {
    [
        parameter(
            "external_source",
            ParameterIn::Path,
            string(),
            "The ERP system of the record.",
        ),
        parameter(
            "external_id",
            ParameterIn::Path,
            string(),
            "The ERP's key of the record; URL-encode / as %2F.",
        ),
    ]
}

pub fn limit() -> Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_PAGE))
        .default(Some(json!(DEFAULT_PAGE)));
    query("limit", schema.into(), "Page size.")
}

pub fn offset() -> Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(u32::MAX))
        .default(Some(json!(0)));
    query("offset", schema.into(), "Records to skip.")
}

pub fn include_deleted() -> Parameter {
    query(
        "include_deleted",
        with_default(boolean(), json!(false)),
        "true shows deleted records too.",
    )
}

pub fn dry_run() -> Parameter {
    query(
        "dry_run",
        with_default(boolean(), json!(false)),
        "Run everything (validation, references, change detection) and roll it back: the \
         answer is what the real call would answer, with \"dry_run\": true.",
    )
}

pub fn children() -> Parameter {
    query(
        "children",
        one_of(["merge", "replace"])
            .default(Some(json!("merge")))
            .into(),
        "replace: the payload is the job's whole routing, and stored parts and operations it \
         leaves out are soft-deleted and listed with action deleted. A job's own children \
         field overrides it.",
    )
}

pub fn idempotency_key() -> Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some("^[!-~]+$"));
    let description =
        "1 to 255 visible ASCII characters (a UUID is a good choice). A retry of the same \
         request with the same key within 24 h replays the first answer \
         (Idempotent-Replayed: true) without running again. Keys belong to the API key that \
         sent them; a 5xx answer does not keep its key.";
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .schema(Some(schema))
        .description(Some(description))
        .example(Some(json!("3f2b8c1e-7d4a-4e2b-9c61-0a5f7e2d9b10")))
        .build()
}

/// The query parameters of an entity's list.
pub fn list_parameters(entity: Entity) -> Vec<Parameter> {
    let mut parameters = vec![
        query(
            "external_source",
            string(),
            "Only records of this ERP system (exact match).",
        ),
        query(
            "external_id",
            string(),
            "Exact match; a comma-separated list matches any of them (SO-1,SO-2).",
        ),
        query(
            "search",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(255))
                .into(),
            &format!(
                "Text in {}, ignoring case in every script (accents count); at most 255 \
                 characters.",
                searched(entity).join(" or ")
            ),
        ),
    ];
    let statuses: Option<Vec<&str>> = match entity {
        Entity::Cells => None,
        Entity::Resources => Some(ResourceStatus::ALL.iter().map(|s| s.as_str()).collect()),
        _ => Some(WorkStatus::ALL.iter().map(|s| s.as_str()).collect()),
    };
    if let Some(statuses) = statuses {
        parameters.push(query("status", one_of(statuses).into(), "Exact status."));
    }
    parameters.push(query(
        "updated_since",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::schema::SchemaFormat::Custom(
                "date-time".into(),
            )))
            .examples(["2024-05-01T00:00:00Z"])
            .into(),
        "RFC 3339 time: records changed at or after it.",
    ));
    match entity {
        Entity::Parts => parameters.push(query(
            "job_external_id",
            string(),
            "Parts of the job with this external_id.",
        )),
        Entity::Operations => {
            parameters.push(query(
                "part_external_id",
                string(),
                "Operations of the part with this external_id.",
            ));
            parameters.push(query(
                "cell_name",
                string(),
                "Operations in the cell with this name.",
            ));
        }
        _ => {}
    }
    parameters.extend([
        query(
            "sort",
            one_of(Sort::allowed(entity))
                .default(Some(json!("id")))
                .into(),
            "The field to order by (id is creation order).",
        ),
        query(
            "order",
            one_of(["asc", "desc"]).default(Some(json!("asc"))).into(),
            "Sort direction.",
        ),
        limit(),
        offset(),
        query(
            "cursor",
            string(),
            "The previous page's next_cursor: walks the whole set in creation order without \
             gaps or repeats, even while records are added. Not with offset, nor with sort \
             other than id or created_at.",
        ),
        include_deleted(),
    ]);
    parameters
}
