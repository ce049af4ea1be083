//! The document held to the real decoder and to the error mapping: every documented bound is
//! the decoder's bound, every error code is the server's.

use serde_json::{json, Map, Value};

use super::document;
use super::errors::{error_info, ERRORS};
use super::page::page;
use super::records::{field_of, input_name, Placement};
use crate::domain::decode::{decode, FieldError};
use crate::domain::record::{
    CellPayload, JobPayload, OperationPayload, PartPayload, Payload, ResourcePayload,
};
use crate::domain::schema::{Entity, Kind};
use crate::http::ApiError;
use crate::store::StoreError;

#[test]
fn every_own_column_is_documented_once() {
    for entity in Entity::ALL {
        let own: Vec<&str> = entity
            .columns()
            .iter()
            .filter(|c| !matches!(c.kind, Kind::Reference(_)))
            .map(|c| c.name)
            .collect();
        let documented: Vec<&str> = entity.fields().iter().map(|f| f.name).collect();
        assert_eq!(own, documented, "{}", entity.plural());
    }
}

/// The JSON type a column of each kind holds.
fn kind_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text | Kind::Date | Kind::Time | Kind::Reference(_) => "string",
        Kind::Int => "integer",
        Kind::Real => "number",
        Kind::Bool => "boolean",
        Kind::Json => "object",
    }
}

#[test]
fn field_types_agree_with_column_kinds() {
    for entity in Entity::ALL {
        for column in entity.columns() {
            if matches!(column.kind, Kind::Reference(_)) {
                continue;
            }
            let field = field_of(entity, column);
            let expected = kind_type(column.kind);
            let schema = serde_json::to_value((field.value)()).unwrap();
            assert_eq!(schema["type"], expected, "{}", field.name);
        }
    }
}

/// Decodes a flat payload of `entity` as the sync endpoints do; the field at fault if not.
fn server_accepts(entity: Entity, body: &Value) -> Result<(), Option<String>> {
    fn check<P: Payload>(body: &Value) -> Result<(), FieldError> {
        decode::<P>(body.to_string().as_bytes())?
            .into_item()
            .map(drop)
    }
    match entity {
        Entity::Jobs => check::<JobPayload>(body),
        Entity::Parts => check::<PartPayload>(body),
        Entity::Operations => check::<OperationPayload>(body),
        Entity::Cells => check::<CellPayload>(body),
        Entity::Resources => check::<ResourcePayload>(body),
    }
    .map_err(|e| e.field)
}

fn schema_of(name: &str) -> &'static Value {
    &document()["components"]["schemas"][name]
}

fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// Some value the schema allows.
fn sample(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|v| v.first()) {
        return first.clone();
    }
    match types(schema).first().copied() {
        Some("integer") | Some("number") => schema.get("minimum").cloned().unwrap_or(json!(0)),
        Some("boolean") => json!(true),
        Some("object") => json!({}),
        Some("array") => json!([]),
        _ if schema["format"] == "date" => json!("2024-02-29"),
        _ if schema["pattern"] == "^#[0-9A-Fa-f]{6}$" => json!("#3b82f6"),
        _ => json!("X"),
    }
}

fn minimal(schema: &Value) -> Value {
    let mut body = Map::new();
    let alternatives = schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| &pair["oneOf"][0]["required"][0]);
    for name in schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .chain(alternatives)
    {
        let name = name.as_str().unwrap();
        body.insert(name.to_owned(), sample(&schema["properties"][name]));
    }
    Value::Object(body)
}

fn with(body: &Value, name: &str, value: Value) -> Value {
    let mut body = body.clone();
    body[name] = value;
    body
}

fn refused_naming(entity: Entity, body: &Value, name: &str) {
    assert_eq!(
        server_accepts(entity, body),
        Err(Some(name.to_owned())),
        "{} {body}",
        entity.plural()
    );
}

fn accepted(entity: Entity, body: &Value) {
    assert_eq!(
        server_accepts(entity, body),
        Ok(()),
        "{} {body}",
        entity.plural()
    );
}

#[test]
fn every_documented_bound_is_the_decoders_bound() {
    for entity in Entity::ALL {
        let schema = schema_of(&input_name(entity, Placement::TopLevel));
        let base = minimal(schema);
        accepted(entity, &base);
        refused_naming(
            entity,
            &with(&base, "no_such_field", json!(1)),
            "no_such_field",
        );
        for (name, property) in schema["properties"].as_object().unwrap() {
            let nullable = types(property).contains(&"null");
            if nullable {
                accepted(entity, &with(&base, name, Value::Null));
            } else {
                refused_naming(entity, &with(&base, name, Value::Null), name);
            }
            if let Some(max) = property["maxLength"].as_u64() {
                let max = max as usize;
                accepted(entity, &with(&base, name, json!("é".repeat(max))));
                refused_naming(entity, &with(&base, name, json!("é".repeat(max + 1))), name);
            }
            if property["minLength"].as_u64() == Some(1) {
                refused_naming(entity, &with(&base, name, json!(" ")), name);
            }
            if let (Some(min), Some(max)) =
                (property["minimum"].as_f64(), property["maximum"].as_f64())
            {
                let step = if types(property).contains(&"integer") {
                    1.0
                } else {
                    0.5
                };
                for ok in [min, max] {
                    accepted(entity, &with(&base, name, number(ok, step)));
                }
                for bad in [min - step, max + step] {
                    refused_naming(entity, &with(&base, name, number(bad, step)), name);
                }
            }
            if let Some(values) = property["enum"].as_array() {
                for value in values {
                    accepted(entity, &with(&base, name, value.clone()));
                }
                refused_naming(entity, &with(&base, name, json!("bogus")), name);
            }
            if property["format"] == "date" {
                accepted(entity, &with(&base, name, json!("2024-02-29")));
                refused_naming(entity, &with(&base, name, json!("2023-02-29")), name);
                refused_naming(entity, &with(&base, name, json!("0000-01-01")), name);
            }
            if property.get("pattern") == Some(&json!("^#[0-9A-Fa-f]{6}$")) {
                accepted(entity, &with(&base, name, json!("#ABCDEF")));
                refused_naming(entity, &with(&base, name, json!("red")), name);
            }
            if types(property).first() == Some(&"object") {
                refused_naming(entity, &with(&base, name, json!([1])), name);
            }
        }
        for name in schema["required"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            let mut body = base.clone();
            body.as_object_mut().unwrap().remove(name);
            refused_naming(entity, &body, name);
        }
    }
}

fn number(value: f64, step: f64) -> Value {
    if step == 1.0 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

#[test]
fn children_modes_are_the_decoders() {
    let job = minimal(schema_of("JobInput"));
    let modes = &schema_of("JobInput")["properties"]["children"]["enum"];
    for mode in modes.as_array().unwrap() {
        accepted(Entity::Jobs, &with(&job, "children", mode.clone()));
    }
    refused_naming(
        Entity::Jobs,
        &with(&job, "children", json!("bogus")),
        "children",
    );
}

/// One of each `ApiError` variant. The match is exhaustive so that a new variant fails to
/// compile here until it is added, and so is checked against the document's table.
fn every_api_error() -> Vec<ApiError> {
    let all = vec![
        ApiError::invalid(FieldError::new("f", "m")),
        ApiError::Reference(crate::domain::outcome::RecordError::reference(
            crate::domain::outcome::ErrorCode::ReferenceNotFound,
            "f",
            "m".into(),
        )),
        ApiError::Reference(crate::domain::outcome::RecordError::reference(
            crate::domain::outcome::ErrorCode::AmbiguousReference,
            "f",
            "m".into(),
        )),
        ApiError::Unauthorized("m".into()),
        ApiError::Forbidden("m".into()),
        ApiError::NotFound("m".into()),
        ApiError::Conflict("m".into()),
        ApiError::InvalidTransition("m".into()),
        ApiError::CursorExpired { days: 30 },
        ApiError::IdempotencyKeyReused,
        ApiError::IdempotencyInProgress,
        ApiError::IdempotencyMismatch("m".into()),
        ApiError::MethodNotAllowed,
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::UnsupportedMediaType("m".into()),
        ApiError::BodyUnreadable("m".into()),
        ApiError::RateLimited { retry_after: 1 },
        ApiError::Timeout,
        ApiError::Store(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
        ApiError::Store(StoreError::Database(sqlx::Error::RowNotFound)),
        ApiError::Panic,
    ];
    for error in &all {
        match error {
            ApiError::Validation { .. }
            | ApiError::Reference(_)
            | ApiError::Unauthorized(_)
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::Conflict(_)
            | ApiError::InvalidTransition(_)
            | ApiError::CursorExpired { .. }
            | ApiError::IdempotencyKeyReused
            | ApiError::IdempotencyInProgress
            | ApiError::IdempotencyMismatch(_)
            | ApiError::MethodNotAllowed
            | ApiError::PayloadTooLarge { .. }
            | ApiError::UnsupportedMediaType(_)
            | ApiError::BodyUnreadable(_)
            | ApiError::RateLimited { .. }
            | ApiError::Timeout
            | ApiError::Store(_)
            | ApiError::Panic => {}
        }
    }
    all
}

#[test]
fn the_error_table_is_the_servers() {
    let mut seen = Vec::new();
    for error in every_api_error() {
        let (status, code) = error.status_and_code();
        let info = error_info(code);
        assert_eq!(info.status, status.as_u16(), "{code}");
        seen.push(code);
    }
    for info in ERRORS {
        assert!(seen.contains(&info.code), "{} is never answered", info.code);
    }
}

#[test]
fn the_page_lists_every_path() {
    let page = page();
    for path in document()["paths"].as_object().unwrap().keys() {
        assert!(page.contains(&format!("<code>{path}</code>")), "{path}");
    }
}

#[test]
fn every_documented_call_needs_a_scope_and_may_be_forbidden() {
    for (path, item) in document()["paths"].as_object().unwrap() {
        if !path.starts_with("/api-") {
            continue;
        }
        for method in ["get", "put", "post", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let method = method.to_uppercase();
            assert!(
                crate::domain::api_key::needed_scope(&method, path).is_some(),
                "{method} {path} needs no scope"
            );
            assert!(
                operation["responses"]["403"].is_object(),
                "{method} {path} documents no 403"
            );
        }
    }
}
