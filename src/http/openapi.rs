//! `GET /openapi.json` and `GET /docs`: the API as an OpenAPI 3.1 document, and a page that
//! renders it. Request and record schemas are generated from `Entity::columns()` and from the
//! document entries `payload!` declares with each field (`Entity::fields()`: its value type's
//! schema and prose), so a new field shows up here by itself; the unit tests below hold the
//! document to the real decoder and to the error mapping.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::read::{DEFAULT_PAGE, MAX_PAGE};
use crate::domain::batch::MAX_BULK_RECORDS;
use crate::domain::fields::{Described, Field};
use crate::domain::patch::Patch;
use crate::domain::schema::{Column, Default as ColumnDefault, Entity, Kind};
use crate::domain::value::{
    Color, HoursPerDay, Int, IsoDate, Metadata, Name, ResourceStatus, ResourceType, Source, Text,
    WorkStatus, MAX_METADATA_BYTES,
};
use crate::store::listing::searched;
use crate::store::Sort;

// The schema of each value type a field may have (`Described`, declared in
// `domain/fields.rs`); a field whose type has none does not compile.

impl<const MIN: usize, const MAX: usize> Described for Text<MIN, MAX> {
    fn value() -> Value {
        let mut schema = json!({"type": "string", "maxLength": MAX});
        if MIN > 0 {
            schema["minLength"] = json!(MIN);
            // The constructor refuses white space only, which minLength alone would allow.
            schema["pattern"] = json!("\\S");
        }
        schema
    }
}

impl<const MIN: i64, const MAX: i64> Described for Int<MIN, MAX> {
    fn value() -> Value {
        json!({"type": "integer", "minimum": MIN, "maximum": MAX})
    }
}

impl Described for HoursPerDay {
    fn value() -> Value {
        json!({"type": "number", "minimum": 0, "maximum": 24})
    }
}

impl Described for Color {
    fn value() -> Value {
        json!({"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$", "examples": ["#3b82f6"]})
    }
}

impl Described for IsoDate {
    fn value() -> Value {
        json!({
            "type": "string",
            "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "A calendar date written YYYY-MM-DD, year 1 or later.",
        })
    }
}

impl Described for Metadata {
    fn value() -> Value {
        json!({
            "type": "object",
            "description": format!(
                "Any JSON object, at most {MAX_METADATA_BYTES} bytes as JSON. Kept as sent; \
                 a re-sent equal object (in any key order) counts as unchanged."
            ),
        })
    }
}

impl Described for bool {
    fn value() -> Value {
        json!({"type": "boolean"})
    }
}

macro_rules! described_enum {
    ($($name:ty),+) => {
        $(impl Described for $name {
            fn value() -> Value {
                let names: Vec<&str> = <$name>::ALL.iter().map(|v| v.as_str()).collect();
                json!({"type": "string", "enum": names})
            }
        })+
    };
}

described_enum!(WorkStatus, ResourceType, ResourceStatus);

impl<T: Described> Described for Patch<T> {
    const OPTIONAL: bool = true;

    fn value() -> Value {
        T::value()
    }

    fn request() -> Value {
        nullable(T::value())
    }
}

/// The document entry of an own column. `payload!` declares every column field with its
/// entry, so each own column has one (`every_own_column_is_documented_once` checks it).
fn field_of(entity: Entity, column: &Column) -> &'static Field {
    entity
        .fields()
        .iter()
        .find(|f| f.name == column.name)
        .expect("payload! declares every own column with its document entry")
}

fn nullable(mut schema: Value) -> Value {
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        schema["type"] = json!([kind, "null"]);
    }
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        values.push(Value::Null);
    }
    schema
}

fn described(mut schema: Value, about: &str) -> Value {
    if about.is_empty() {
        return schema;
    }
    let text = match schema.get("description").and_then(Value::as_str) {
        Some(own) => format!("{about} {own}"),
        None => about.to_owned(),
    };
    schema["description"] = json!(text);
    schema
}

fn default_value(default: ColumnDefault) -> Value {
    match default {
        ColumnDefault::Text(text) => json!(text),
        ColumnDefault::Int(n) => json!(n),
        ColumnDefault::Bool(b) => json!(b),
    }
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time", "examples": ["2024-05-01T08:30:00.000000Z"]})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array_of(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// An object schema built field by field.
#[derive(Default)]
struct Object {
    properties: Map<String, Value>,
    required: Vec<String>,
}

impl Object {
    fn field(&mut self, name: &str, schema: Value, required: bool) -> &mut Self {
        self.properties.insert(name.to_owned(), schema);
        if required {
            self.required.push(name.to_owned());
        }
        self
    }

    /// `closed`: unknown keys are refused, as the payload structs do.
    fn build(&mut self, closed: bool) -> Value {
        let mut schema = json!({
            "type": "object",
            "required": std::mem::take(&mut self.required),
            "properties": std::mem::take(&mut self.properties),
        });
        if closed {
            schema["additionalProperties"] = json!(false);
        }
        schema
    }
}

fn title(entity: Entity) -> &'static str {
    match entity {
        Entity::Jobs => "Job",
        Entity::Parts => "Part",
        Entity::Operations => "Operation",
        Entity::Cells => "Cell",
        Entity::Resources => "Resource",
    }
}

fn titles(entity: Entity) -> String {
    format!("{}s", title(entity))
}

/// How a payload names a parent row, and how a record shows it (as `domain/payload.rs` and the
/// stores' read queries spell it).
fn reference_field(parent: Entity) -> &'static str {
    match parent {
        Entity::Jobs => "job_external_id",
        Entity::Parts => "part_external_id",
        Entity::Cells => "cell_name",
        Entity::Operations | Entity::Resources => unreachable!("nothing references {parent:?}"),
    }
}

/// Whether a payload is a request's record or sits inside an enclosing job or part, whose
/// source and key it inherits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    TopLevel,
    Nested,
}

fn input_name(entity: Entity, placement: Placement) -> String {
    match placement {
        Placement::TopLevel => format!("{}Input", title(entity)),
        Placement::Nested => format!("Nested{}Input", title(entity)),
    }
}

fn input_schema(entity: Entity, placement: Placement) -> Value {
    let mut object = Object::default();
    // Pairs of fields of which exactly one must be sent (a reference by key or by id).
    let mut alternatives: Vec<(&str, &str)> = Vec::new();
    object.field(
        "external_id",
        described(
            Name::value(),
            "The ERP's key of the record; with external_source, its identity.",
        ),
        true,
    );
    match placement {
        Placement::TopLevel => object.field(
            "external_source",
            described(
                Source::value(),
                "The ERP system the record comes from (SAP, NetSuite, …).",
            ),
            true,
        ),
        Placement::Nested => object.field(
            "external_source",
            described(
                nullable(Source::value()),
                "Inherited from the enclosing record; if sent, it must be the same.",
            ),
            false,
        ),
    };
    for column in entity.columns() {
        match column.kind {
            Kind::Reference(Entity::Cells) => {
                object.field(
                    reference_field(Entity::Cells),
                    described(
                        Name::value(),
                        "The exact name of an active cell, whatever its external_source. \
                         Send this or cell_id.",
                    ),
                    false,
                );
                object.field(
                    "cell_id",
                    described(
                        nullable(uuid()),
                        "The id of an active cell, instead of cell_name.",
                    ),
                    false,
                );
                alternatives.push((reference_field(Entity::Cells), "cell_id"));
                &mut object
            }
            Kind::Reference(parent) => match placement {
                Placement::TopLevel => {
                    object.field(
                        reference_field(parent),
                        described(
                            Name::value(),
                            &format!(
                                "The external_id of the {} this {} belongs to, in the same \
                                 external_source. Send this or {}_id.",
                                parent.singular(),
                                entity.singular(),
                                parent.singular()
                            ),
                        ),
                        false,
                    );
                    let by_id = match parent {
                        Entity::Jobs => "job_id",
                        _ => "part_id",
                    };
                    object.field(
                        by_id,
                        described(
                            nullable(uuid()),
                            &format!(
                                "The id of the {}, instead of its external_id.",
                                parent.singular()
                            ),
                        ),
                        false,
                    );
                    alternatives.push((reference_field(parent), by_id));
                    &mut object
                }
                Placement::Nested => object.field(
                    reference_field(parent),
                    described(
                        nullable(Name::value()),
                        &format!(
                            "Inherited from the enclosing {}; if sent, it must be its external_id.",
                            parent.singular()
                        ),
                    ),
                    false,
                ),
            },
            _ => {
                let field = field_of(entity, column);
                let mut schema = described((field.request)(), field.about);
                if let Some(default) = column.default {
                    schema["default"] = default_value(default);
                }
                object.field(column.name, schema, !field.optional)
            }
        };
    }
    match entity {
        Entity::Jobs => {
            object.field(
                "parts",
                described(
                    array_of(schema_ref(&input_name(Entity::Parts, Placement::Nested))),
                    "The job's parts, each with its operations. Parts left out are kept, unless \
                     children is replace.",
                ),
                false,
            );
            object.field(
                "children",
                json!({
                    "type": ["string", "null"],
                    "enum": ["merge", "replace", null],
                    "description": "replace: stored parts and operations this payload leaves \
                                    out are deleted. Overrides the request's ?children=.",
                }),
                false,
            );
        }
        Entity::Parts => {
            object.field(
                "operations",
                described(
                    array_of(schema_ref(&input_name(
                        Entity::Operations,
                        Placement::Nested,
                    ))),
                    "The part's operations (routing steps).",
                ),
                false,
            );
        }
        _ => {}
    }
    let mut schema = object.build(true);
    if !alternatives.is_empty() {
        schema["allOf"] = alternatives
            .iter()
            .map(|(a, b)| json!({"oneOf": [{"required": [a]}, {"required": [b]}]}))
            .collect();
    }
    schema
}

fn bulk_input_schema(entity: Entity) -> Value {
    let mut object = Object::default();
    object.field(
        entity.plural(),
        json!({
            "type": "array",
            "maxItems": MAX_BULK_RECORDS,
            "items": schema_ref(&input_name(entity, Placement::TopLevel)),
            "description": format!(
                "Up to {MAX_BULK_RECORDS} records. Each is checked on its own: an invalid one \
                 becomes an error result and does not block the others."
            ),
        }),
        true,
    );
    object.build(true)
}

fn record_name(entity: Entity, with_children: bool) -> String {
    match (entity, with_children) {
        (Entity::Jobs, true) => "JobWithParts".to_owned(),
        (Entity::Parts, true) => "PartWithOperations".to_owned(),
        _ => title(entity).to_owned(),
    }
}

/// A record as reads show it: every column, always present, `null` when not set.
fn record_schema(entity: Entity, with_children: bool) -> Value {
    let mut object = Object::default();
    object.field("id", uuid(), true);
    object.field("external_id", string(), true);
    object.field("external_source", string(), true);
    for column in entity.columns() {
        match column.kind {
            Kind::Reference(parent) => {
                object.field(column.name, uuid(), true);
                object.field(reference_field(parent), string(), true);
            }
            _ => {
                let field = field_of(entity, column);
                let value = described((field.value)(), field.about);
                let schema = if field.optional && column.default.is_none() {
                    nullable(value)
                } else {
                    value
                };
                object.field(column.name, schema, true);
            }
        }
    }
    object.field(
        "synced_at",
        described(
            timestamp(),
            "When a sync last created, changed or restored the record.",
        ),
        true,
    );
    object.field("created_at", timestamp(), true);
    object.field("updated_at", timestamp(), true);
    object.field(
        "deleted_at",
        described(nullable(timestamp()), "Set when the record is deleted."),
        true,
    );
    match (entity, with_children) {
        (Entity::Jobs, true) => {
            object.field(
                "parts",
                described(
                    array_of(schema_ref(&record_name(Entity::Parts, true))),
                    "Oldest first.",
                ),
                true,
            );
        }
        (Entity::Parts, true) => {
            object.field(
                "operations",
                described(
                    array_of(schema_ref(&record_name(Entity::Operations, false))),
                    "By sequence, unsequenced last.",
                ),
                true,
            );
        }
        _ => {}
    }
    object.build(false)
}

/// What a sync did to a record: the fields of a synced record, shared by single and bulk
/// answers.
fn synced_fields(object: &mut Object, actions: &[&str]) {
    object
        .field("external_id", string(), true)
        .field(
            "id",
            described(
                uuid(),
                "Absent for a record a dry run would create: it has no id yet.",
            ),
            false,
        )
        .field("action", json!({"type": "string", "enum": actions}), true)
        .field(
            "unchanged",
            json!({"const": true, "description": "Present when nothing stored changed; action is then updated."}),
            false,
        );
}

fn sync_schemas(schemas: &mut Map<String, Value>) {
    let mut child = Object::default();
    synced_fields(&mut child, &["created", "updated", "deleted"]);
    child.field("operations", array_of(schema_ref("SyncedChild")), false);
    let mut child = child.build(false);
    child["description"] =
        json!("A nested part or operation; deleted when replace mode removed it.");
    schemas.insert("SyncedChild".into(), child);

    let children = |object: &mut Object| {
        object
            .field("parts", array_of(schema_ref("SyncedChild")), false)
            .field("operations", array_of(schema_ref("SyncedChild")), false);
    };
    let mut single = Object::default();
    synced_fields(&mut single, &["created", "updated"]);
    children(&mut single);
    single.field("dry_run", json!({"const": true}), false);
    schemas.insert("SyncResult".into(), single.build(false));

    let mut synced = Object::default();
    synced.field("index", count(), true);
    synced_fields(&mut synced, &["created", "updated"]);
    children(&mut synced);
    schemas.insert("BulkSynced".into(), synced.build(false));

    let mut rejected = Object::default();
    rejected
        .field("index", count(), true)
        .field("external_id", json!({"type": ["string", "null"]}), true)
        .field("action", json!({"const": "error"}), true)
        .field("error", string(), true)
        .field("code", record_error_code(), true)
        .field("field", json!({"type": ["string", "null"]}), true);
    schemas.insert("BulkRejected".into(), rejected.build(false));

    let mut bulk = Object::default();
    bulk.field("total", count(), true)
        .field("created", count(), true)
        .field(
            "updated",
            described(
                count(),
                "Includes unchanged: total = created + updated + errors.",
            ),
            true,
        )
        .field("unchanged", count(), true)
        .field("errors", count(), true)
        .field("dry_run", json!({"const": true}), false)
        .field(
            "results",
            described(
                array_of(json!({"oneOf": [schema_ref("BulkSynced"), schema_ref("BulkRejected")]})),
                "One per record, in input order.",
            ),
            true,
        );
    schemas.insert("BulkResult".into(), bulk.build(false));
}

fn record_error_code() -> Value {
    json!({"type": "string", "enum": ["VALIDATION_ERROR", "REFERENCE_NOT_FOUND", "AMBIGUOUS_REFERENCE"]})
}

fn other_schemas(schemas: &mut Map<String, Value>) {
    let mut pagination = Object::default();
    pagination
        .field("limit", count(), true)
        .field("offset", count(), true)
        .field("total", count(), true)
        .field(
            "next_cursor",
            described(
                string(),
                "Pass as cursor for the next page; absent on the last page.",
            ),
            false,
        );
    schemas.insert("Pagination".into(), pagination.build(false));

    let mut deleted = Object::default();
    deleted
        .field("id", uuid(), true)
        .field("external_id", string(), true)
        .field("deleted", json!({"const": true}), true)
        .field("deleted_parts", count(), true)
        .field("deleted_operations", count(), true);
    schemas.insert("Deleted".into(), deleted.build(false));

    let entity_names: Vec<&str> = Entity::ALL.iter().map(|e| e.plural()).collect();
    let entry = |with_errors: bool| {
        let mut entry = Object::default();
        entry
            .field("id", uuid(), true)
            .field(
                "endpoint",
                json!({"type": "string", "examples": ["PUT /api-jobs/sync"]}),
                true,
            )
            .field(
                "entity",
                json!({"type": "string", "enum": entity_names}),
                true,
            )
            .field("key_id", uuid(), true)
            .field(
                "sources",
                described(
                    array_of(string()),
                    "The external_source values of the call.",
                ),
                true,
            )
            .field("dry_run", json!({"type": "boolean"}), true)
            .field("status", json!({"type": "integer"}), true)
            .field("total", count(), true)
            .field("created", count(), true)
            .field("updated", count(), true)
            .field("unchanged", count(), true)
            .field("errors", count(), true)
            .field("duration_ms", count(), true)
            .field("request_id", json!({"type": ["string", "null"]}), true)
            .field("created_at", timestamp(), true);
        if with_errors {
            entry.field("error_details", array_of(schema_ref("ImportError")), false);
        }
        entry.build(false)
    };
    schemas.insert("ImportEntry".into(), entry(false));
    schemas.insert("ImportEntryWithErrors".into(), entry(true));
    let mut error = Object::default();
    error
        .field("index", count(), true)
        .field("external_id", json!({"type": ["string", "null"]}), true)
        .field("code", record_error_code(), true)
        .field("field", json!({"type": ["string", "null"]}), true)
        .field("error", string(), true);
    schemas.insert("ImportError".into(), error.build(false));

    let mut field_error = Object::default();
    field_error
        .field(
            "field",
            described(
                string(),
                "Path of the field at fault, e.g. parts[0].quantity.",
            ),
            false,
        )
        .field("message", string(), true);
    schemas.insert("FieldError".into(), field_error.build(false));
    let codes: Vec<&str> = ERRORS.iter().map(|e| e.code).collect();
    let mut body = Object::default();
    body.field("code", json!({"type": "string", "enum": codes}), true)
        .field("message", string(), true)
        .field("details", array_of(schema_ref("FieldError")), false);
    let mut envelope = Object::default();
    envelope
        .field("success", json!({"const": false}), true)
        .field("error", body.build(false), true);
    schemas.insert("Error".into(), envelope.build(false));
}

fn components_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    for entity in Entity::ALL {
        schemas.insert(
            input_name(entity, Placement::TopLevel),
            input_schema(entity, Placement::TopLevel),
        );
        schemas.insert(
            format!("{}BulkInput", title(entity)),
            bulk_input_schema(entity),
        );
        schemas.insert(record_name(entity, false), record_schema(entity, false));
    }
    for entity in [Entity::Parts, Entity::Operations] {
        schemas.insert(
            input_name(entity, Placement::Nested),
            input_schema(entity, Placement::Nested),
        );
    }
    for entity in [Entity::Jobs, Entity::Parts] {
        schemas.insert(record_name(entity, true), record_schema(entity, true));
    }
    sync_schemas(&mut schemas);
    other_schemas(&mut schemas);
    schemas
}

/// An error code the API answers with.
struct ErrorInfo {
    code: &'static str,
    status: u16,
    when: &'static str,
}

const fn error(code: &'static str, status: u16, when: &'static str) -> ErrorInfo {
    ErrorInfo { code, status, when }
}

/// Every code of `ApiError`, with its status (the unit tests check both against error.rs).
const ERRORS: &[ErrorInfo] = &[
    error("VALIDATION_ERROR", 400, "Malformed JSON (with line and column), wrong type, missing or unknown field or query parameter, bad enum, date, color or range, too many records."),
    error("UNAUTHORIZED", 401, "Missing, malformed, unknown or revoked API key."),
    error("NOT_FOUND", 404, "No record with that id for this key (also: an unknown path)."),
    error("METHOD_NOT_ALLOWED", 405, "Known path, wrong method."),
    error("REQUEST_TIMEOUT", 408, "The request took longer than the server's time limit (ERYXON_REQUEST_TIMEOUT_SECS)."),
    error("INVALID_STATE_TRANSITION", 400, "A lifecycle action the record's status does not allow; the message names the status and the actions it allows."),
    error("CONFLICT", 409, "Deleting a cell that live operations still run in."),
    error("CURSOR_EXPIRED", 410, "An event feed cursor older than the kept events."),
    error("IDEMPOTENCY_IN_PROGRESS", 409, "The first request with this Idempotency-Key still runs."),
    error("PAYLOAD_TOO_LARGE", 413, "Body over the server's limit (32 MiB by default)."),
    error("UNSUPPORTED_MEDIA_TYPE", 415, "Body not sent as application/json."),
    error("REFERENCE_NOT_FOUND", 422, "A parent or cell that does not resolve (deleted records do not count)."),
    error("AMBIGUOUS_REFERENCE", 422, "A cell name that two active cells share."),
    error("IDEMPOTENCY_KEY_REUSED", 422, "This Idempotency-Key came with a different request."),
    error("RATE_LIMITED", 429, "Over the key's per-minute limit; Retry-After says when to retry."),
    error("INTERNAL_ERROR", 500, "A fault on the server's side, without internals; quote the X-Request-Id."),
    error("SERVICE_UNAVAILABLE", 503, "The database is unreachable; retry later."),
];

fn error_info(code: &str) -> &'static ErrorInfo {
    ERRORS
        .iter()
        .find(|e| e.code == code)
        .unwrap_or_else(|| panic!("{code} is listed in ERRORS"))
}

/// Who may call an operation, which decides the headers of its answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    Key,
    /// A sync or bulk-sync: authenticated, and taking an `Idempotency-Key`.
    KeyIdempotent,
}

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

/// Whether a sync answer with this status may be the replay of an earlier one: a replay
/// repeats whatever the first call answered, except failures on the server's side and the
/// refusals of the idempotency check itself.
fn replayable(status: u16) -> bool {
    matches!(status, 200 | 201 | 400 | 415 | 422)
}

fn response_headers(access: Access, status: u16) -> Value {
    let mut headers = Map::new();
    headers.insert("X-Request-Id".into(), header_ref("X-Request-Id"));
    // Written by the authentication middleware once the key is known, so neither a refused
    // key nor an answer cut short by the time limit carries them.
    if access != Access::Public && status != 401 && status != 408 {
        for name in [
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ] {
            headers.insert(name.into(), header_ref(name));
        }
    }
    if status == 429 || status == 503 {
        headers.insert("Retry-After".into(), header_ref("Retry-After"));
    }
    if access == Access::KeyIdempotent && replayable(status) {
        headers.insert(
            "Idempotent-Replayed".into(),
            header_ref("Idempotent-Replayed"),
        );
    }
    Value::Object(headers)
}

fn envelope(data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"const": true}, "data": data},
    })
}

fn success_response(description: &str, access: Access, status: u16, data: Value) -> Value {
    json!({
        "description": description,
        "headers": response_headers(access, status),
        "content": {"application/json": {"schema": envelope(data)}},
    })
}

fn error_response(access: Access, status: u16, codes: &[&str]) -> Value {
    let description = codes
        .iter()
        .map(|code| format!("`{code}`: {}", error_info(code).when))
        .collect::<Vec<_>>()
        .join("\n\n");
    json!({
        "description": description,
        "headers": response_headers(access, status),
        "content": {"application/json": {"schema": {
            "allOf": [schema_ref("Error")],
            "properties": {"error": {"properties": {"code": {"enum": codes}}}},
        }}},
    })
}

/// The error answers of an operation: the ones every call of its kind may get, plus `extra`.
/// Each distinct answer is written once under `components/responses`.
fn error_responses(
    paths: &mut Paths,
    access: Access,
    extra: &[&str],
    responses: &mut Map<String, Value>,
) {
    let common: &[&str] = match access {
        Access::Public => &["REQUEST_TIMEOUT", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE"],
        Access::Key | Access::KeyIdempotent => &[
            "UNAUTHORIZED",
            "REQUEST_TIMEOUT",
            "RATE_LIMITED",
            "INTERNAL_ERROR",
            "SERVICE_UNAVAILABLE",
        ],
    };
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for &code in common.iter().chain(extra) {
        by_status
            .entry(error_info(code).status)
            .or_default()
            .push(code);
    }
    for (status, codes) in by_status {
        // Named by what differs between answers: their headers, then their codes.
        let prefix = match access {
            Access::Public => "Public",
            Access::KeyIdempotent if replayable(status) => "Sync",
            Access::Key | Access::KeyIdempotent => "Api",
        };
        let codes_name: Vec<String> = codes
            .iter()
            .map(|code| {
                code.split('_')
                    .map(|word| word[..1].to_owned() + &word[1..].to_lowercase())
                    .collect()
            })
            .collect();
        let name = format!("{prefix}{}", codes_name.join("Or"));
        paths
            .errors
            .entry(name.clone())
            .or_insert_with(|| error_response(access, status, &codes));
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{name}")}),
        );
    }
}

fn parameter_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn string_enum(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn list_parameters(entity: Entity) -> Vec<Value> {
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
            json!({"type": "string", "maxLength": 255}),
            &format!(
                "Text in {}, ignoring case in every script (accents count); at most 255 characters.",
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
        parameters.push(query("status", string_enum(&statuses), "Exact status."));
    }
    parameters.push(query(
        "updated_since",
        json!({"type": "string", "format": "date-time", "examples": ["2024-05-01T00:00:00Z"]}),
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
    let mut sort = string_enum(&Sort::allowed(entity));
    sort["default"] = json!("id");
    parameters.extend([
        query(
            "sort",
            sort,
            "The field to order by (id is creation order).",
        ),
        query(
            "order",
            json!({"type": "string", "enum": ["asc", "desc"], "default": "asc"}),
            "Sort direction.",
        ),
        parameter_ref("Limit"),
        parameter_ref("Offset"),
        query(
            "cursor",
            string(),
            "The previous page's next_cursor: walks the whole set in creation order without gaps \
             or repeats, even while records are added. Not with offset, nor with sort other than \
             id or created_at.",
        ),
        parameter_ref("IncludeDeleted"),
    ]);
    parameters
}

fn components_parameters() -> Value {
    json!({
        "Id": {
            "name": "id", "in": "path", "required": true, "schema": uuid(),
            "description": "The record's id as the MES gave it. Anything that is not a UUID names no record (404).",
        },
        "ExternalSource": {
            "name": "external_source", "in": "path", "required": true, "schema": string(),
            "description": "The ERP system of the record.",
        },
        "ExternalId": {
            "name": "external_id", "in": "path", "required": true, "schema": string(),
            "description": "The ERP's key of the record; URL-encode / as %2F.",
        },
        "Limit": {
            "name": "limit", "in": "query", "required": false,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
            "description": "Page size.",
        },
        "Offset": {
            "name": "offset", "in": "query", "required": false,
            "schema": {"type": "integer", "minimum": 0, "maximum": u32::MAX, "default": 0},
            "description": "Records to skip.",
        },
        "IncludeDeleted": {
            "name": "include_deleted", "in": "query", "required": false,
            "schema": {"type": "boolean", "default": false},
            "description": "true shows deleted records too.",
        },
        "DryRun": {
            "name": "dry_run", "in": "query", "required": false,
            "schema": {"type": "boolean", "default": false},
            "description": "Run everything (validation, references, change detection) and roll it \
                            back: the answer is what the real call would answer, with \"dry_run\": true.",
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key", "in": "header", "required": false,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            "example": "3f2b8c1e-7d4a-4e2b-9c61-0a5f7e2d9b10",
            "description": "1 to 255 visible ASCII characters (a UUID is a good choice). A retry of \
                            the same request with the same key within 24 h replays the first \
                            answer (Idempotent-Replayed: true) without running again. Keys belong \
                            to the API key that sent them; a 5xx answer does not keep its key.",
        },
    })
}

fn components_headers() -> Value {
    let integer = json!({"type": "integer"});
    json!({
        "X-Request-Id": {
            "description": "The request's id (the client's own X-Request-Id if it sent one); quote it when reporting a problem.",
            "schema": string(),
        },
        "X-RateLimit-Limit": {"description": "Requests allowed per key per minute.", "schema": integer},
        "X-RateLimit-Remaining": {"description": "Requests left in the current minute.", "schema": integer},
        "X-RateLimit-Reset": {"description": "Unix time (seconds) at which the window resets.", "schema": integer},
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": integer},
        "Idempotent-Replayed": {
            "description": "true when this answer is the replay of an earlier request with the same Idempotency-Key.",
            "schema": {"type": "string", "enum": ["true"]},
        },
    })
}

/// The API reference's request examples, sent as they are.
fn examples(entity: Entity) -> Vec<(&'static str, &'static str, Value)> {
    match entity {
        Entity::Jobs => vec![
            (
                "job",
                "A job",
                json!({
                    "external_id": "SO-12345",
                    "external_source": "SAP",
                    "job_number": "JOB-2024-001",
                    "customer": "Acme Corp",
                    "due_date": "2024-12-31",
                    "priority": 5,
                    "notes": "Synced from SAP"
                }),
            ),
            (
                "job_with_parts",
                "A job with nested parts and operations",
                json!({
                    "external_id": "SO-12345",
                    "external_source": "SAP",
                    "job_number": "JOB-2024-001",
                    "customer": "Acme Corp",
                    "parts": [{
                        "external_id": "SO-12345-10",
                        "part_number": "BRACKET-A",
                        "material": "Steel 304",
                        "quantity": 25,
                        "operations": [
                            {
                                "external_id": "SO-12345-10-010",
                                "operation_name": "Laser Cut",
                                "cell_name": "Cutting",
                                "sequence": 1,
                                "estimated_time_minutes": 30
                            },
                            {
                                "external_id": "SO-12345-10-020",
                                "operation_name": "Bend 90°",
                                "cell_name": "Bending",
                                "sequence": 2,
                                "estimated_time_minutes": 15
                            }
                        ]
                    }]
                }),
            ),
        ],
        Entity::Parts => vec![(
            "part",
            "A part of an existing job",
            json!({
                "external_id": "SO-12345-10",
                "external_source": "SAP",
                "job_external_id": "SO-12345",
                "part_number": "BRACKET-A",
                "material": "Steel 304",
                "quantity": 25,
                "notes": "Handle with care"
            }),
        )],
        Entity::Operations => vec![(
            "operation",
            "An operation of an existing part",
            json!({
                "external_id": "SO-12345-10-010",
                "external_source": "SAP",
                "part_external_id": "SO-12345-10",
                "operation_name": "Laser Cut",
                "cell_name": "Cutting",
                "sequence": 1,
                "estimated_time_minutes": 30,
                "notes": "Use 1000W laser"
            }),
        )],
        Entity::Cells => vec![(
            "cell",
            "A work center",
            json!({
                "external_id": "WC-CUTTING",
                "external_source": "SAP",
                "name": "Cutting",
                "color": "#3b82f6",
                "sequence": 1,
                "active": true
            }),
        )],
        Entity::Resources => vec![(
            "resource",
            "A machine",
            json!({
                "external_id": "TOOL-001",
                "external_source": "SAP",
                "name": "CNC Mill #1",
                "type": "equipment",
                "description": "5-axis CNC milling machine",
                "identifier": "MILL-001",
                "location": "Building A, Bay 3",
                "status": "available"
            }),
        )],
    }
}

/// The reference's bulk examples; where it has none, the single example in a list.
fn bulk_example(entity: Entity) -> Value {
    match entity {
        Entity::Jobs => json!({"jobs": [
            {"external_id": "SO-001", "external_source": "SAP", "job_number": "JOB-001", "customer": "Customer A"},
            {"external_id": "SO-002", "external_source": "SAP", "job_number": "JOB-002", "customer": "Customer B"}
        ]}),
        Entity::Parts => json!({"parts": [
            {"external_id": "SO-001-10", "external_source": "SAP", "job_external_id": "SO-001", "part_number": "PART-A", "quantity": 10}
        ]}),
        other => {
            let singles: Vec<Value> = examples(other).into_iter().map(|(_, _, v)| v).collect();
            json!({ other.plural(): singles })
        }
    }
}

fn request_body(schema: &str, examples: Vec<(&str, &str, Value)>) -> Value {
    let examples: Map<String, Value> = examples
        .into_iter()
        .map(|(name, summary, value)| {
            (name.to_owned(), json!({"summary": summary, "value": value}))
        })
        .collect();
    json!({
        "required": true,
        "content": {"application/json": {"schema": schema_ref(schema), "examples": examples}},
    })
}

/// The paths of a document under construction, and the error answers they share.
#[derive(Default)]
struct Paths {
    items: Map<String, Value>,
    errors: Map<String, Value>,
}

impl Paths {
    fn add(&mut self, path: &str, method: &str, operation: Value) {
        let item = self
            .items
            .entry(path.to_owned())
            .or_insert_with(|| json!({}));
        item[method] = operation;
    }
}

fn operation(
    id: &str,
    tag: &str,
    summary: &str,
    description: &str,
    parameters: Vec<Value>,
    responses: Map<String, Value>,
) -> Value {
    let mut op = json!({
        "operationId": id,
        "tags": [tag],
        "summary": summary,
        "responses": responses,
    });
    if !description.is_empty() {
        op["description"] = json!(description);
    }
    if !parameters.is_empty() {
        op["parameters"] = json!(parameters);
    }
    op
}

/// Codes a single-record sync may answer 422 with besides a reused key: only entities whose
/// payloads name other records can miss one.
fn reference_codes(entity: Entity) -> &'static [&'static str] {
    match entity {
        Entity::Jobs | Entity::Parts | Entity::Operations => {
            &["REFERENCE_NOT_FOUND", "AMBIGUOUS_REFERENCE"]
        }
        Entity::Cells | Entity::Resources => &[],
    }
}

fn entity_paths(entity: Entity, paths: &mut Paths) {
    let base = format!("/api-{}", entity.plural());
    let (one, many, tag) = (title(entity), titles(entity), titles(entity));
    let singular = entity.singular();

    let mut sync_parameters = vec![parameter_ref("DryRun")];
    if entity == Entity::Jobs {
        sync_parameters.push(query(
            "children",
            json!({"type": "string", "enum": ["merge", "replace"], "default": "merge"}),
            "replace: the payload is the job's whole routing, and stored parts and operations it \
             leaves out are soft-deleted and listed with action deleted. A job's own children \
             field overrides it.",
        ));
    }
    sync_parameters.push(parameter_ref("IdempotencyKey"));
    let sync_errors = |extra: &[&'static str]| {
        let mut codes = vec![
            "VALIDATION_ERROR",
            "IDEMPOTENCY_IN_PROGRESS",
            "PAYLOAD_TOO_LARGE",
            "UNSUPPORTED_MEDIA_TYPE",
        ];
        codes.extend_from_slice(extra);
        codes.push("IDEMPOTENCY_KEY_REUSED");
        codes
    };

    let access = Access::KeyIdempotent;
    let mut responses = Map::new();
    responses.insert(
        "201".into(),
        success_response(
            &format!("The {singular} was created (or a deleted one restored)."),
            access,
            201,
            schema_ref("SyncResult"),
        ),
    );
    responses.insert(
        "200".into(),
        success_response(
            &format!("The {singular} was updated, or was already as sent (unchanged)."),
            access,
            200,
            schema_ref("SyncResult"),
        ),
    );
    error_responses(
        paths,
        access,
        &sync_errors(reference_codes(entity)),
        &mut responses,
    );
    let mut op = operation(
        &format!("sync{one}"),
        &tag,
        &format!("Upsert one {singular}"),
        "Created the first time its (external_source, external_id) is sent, updated after. \
         Fields left out keep their stored value; null clears one.",
        sync_parameters.clone(),
        responses,
    );
    op["requestBody"] = request_body(&input_name(entity, Placement::TopLevel), examples(entity));
    paths.add(&format!("{base}/sync"), "put", op);

    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        success_response(
            "A result per record, in input order; invalid records are error results.",
            access,
            200,
            schema_ref("BulkResult"),
        ),
    );
    error_responses(paths, access, &sync_errors(&[]), &mut responses);
    let mut op = operation(
        &format!("bulkSync{many}"),
        &tag,
        &format!("Upsert up to {MAX_BULK_RECORDS} {}", entity.plural()),
        "One bad record never blocks the others. The same record twice in one call: the repeat \
         is an error result. More than the limit is a 400 that writes nothing.",
        sync_parameters,
        responses,
    );
    op["requestBody"] = request_body(
        &format!("{one}BulkInput"),
        vec![("bulk", "Several records", bulk_example(entity))],
    );
    paths.add(&format!("{base}/bulk-sync"), "post", op);

    let access = Access::Key;
    let mut list = Object::default();
    list.field(
        entity.plural(),
        array_of(schema_ref(&record_name(entity, false))),
        true,
    )
    .field("pagination", schema_ref("Pagination"), true);
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        success_response("A page of records.", access, 200, list.build(false)),
    );
    error_responses(paths, access, &["VALIDATION_ERROR"], &mut responses);
    paths.add(
        &base,
        "get",
        operation(
            &format!("list{many}"),
            &tag,
            &format!("List {}", entity.plural()),
            "",
            list_parameters(entity),
            responses,
        ),
    );

    let get_responses = |paths: &mut Paths| {
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            success_response(
                &format!("The {singular}."),
                access,
                200,
                schema_ref(&record_name(entity, true)),
            ),
        );
        error_responses(
            paths,
            access,
            &["VALIDATION_ERROR", "NOT_FOUND"],
            &mut responses,
        );
        responses
    };
    let delete_responses = |paths: &mut Paths| {
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            success_response(
                &format!("The {singular} is deleted."),
                access,
                200,
                schema_ref("Deleted"),
            ),
        );
        let extra: &[&str] = if entity == Entity::Cells {
            &["NOT_FOUND", "CONFLICT"]
        } else {
            &["NOT_FOUND"]
        };
        error_responses(paths, access, extra, &mut responses);
        responses
    };
    let get_description = match entity {
        Entity::Jobs => "With its parts (oldest first) and their operations (by sequence).",
        Entity::Parts => "With its operations (by sequence).",
        _ => "",
    };
    let delete_description = match entity {
        Entity::Jobs => {
            "Soft delete: hidden from reads, with its parts and operations. Syncing \
                         it again restores it with the same id."
        }
        Entity::Parts => {
            "Soft delete: hidden from reads, with its operations. Syncing it again \
                          restores it with the same id."
        }
        Entity::Cells => {
            "Soft delete, refused (409) while live operations run in the cell. \
                          Syncing it again restores it with the same id."
        }
        _ => "Soft delete: hidden from reads. Syncing it again restores it with the same id.",
    };
    let by_id = format!("{base}/{{id}}");
    let responses = get_responses(paths);
    paths.add(
        &by_id,
        "get",
        operation(
            &format!("get{one}"),
            &tag,
            &format!("One {singular} by id"),
            get_description,
            vec![parameter_ref("Id"), parameter_ref("IncludeDeleted")],
            responses,
        ),
    );
    let responses = delete_responses(paths);
    paths.add(
        &by_id,
        "delete",
        operation(
            &format!("delete{one}"),
            &tag,
            &format!("Delete a {singular} by id"),
            delete_description,
            vec![parameter_ref("Id")],
            responses,
        ),
    );
    let by_external = format!("{base}/by-external/{{external_source}}/{{external_id}}");
    let external_parameters = vec![parameter_ref("ExternalSource"), parameter_ref("ExternalId")];
    let mut get_parameters = external_parameters.clone();
    get_parameters.push(parameter_ref("IncludeDeleted"));
    let responses = get_responses(paths);
    paths.add(
        &by_external,
        "get",
        operation(
            &format!("get{one}ByExternalId"),
            &tag,
            &format!("One {singular} by the ERP's key"),
            get_description,
            get_parameters,
            responses,
        ),
    );
    let responses = delete_responses(paths);
    paths.add(
        &by_external,
        "delete",
        operation(
            &format!("delete{one}ByExternalId"),
            &tag,
            &format!("Delete a {singular} by the ERP's key"),
            delete_description,
            external_parameters,
            responses,
        ),
    );
}

const HISTORY_TAG: &str = "Sync history";
const SERVICE_TAG: &str = "Service";

fn service_paths(paths: &mut Paths) {
    let access = Access::Key;
    let entity_names: Vec<&str> = Entity::ALL.iter().map(|e| e.plural()).collect();
    let mut list = Object::default();
    list.field("imports", array_of(schema_ref("ImportEntry")), true)
        .field("pagination", schema_ref("Pagination"), true);
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        success_response("A page of history entries.", access, 200, list.build(false)),
    );
    error_responses(paths, access, &["VALIDATION_ERROR"], &mut responses);
    paths.add(
        "/api-sync/imports",
        "get",
        operation(
            "listImports",
            HISTORY_TAG,
            "Sync history, newest first",
            "Every sync and bulk-sync call of the key's tenant and mode: endpoint, key, sources, \
             dry run, HTTP status, counts, duration and request id.",
            vec![
                query(
                    "entity",
                    string_enum(&entity_names),
                    "Only calls for this entity.",
                ),
                parameter_ref("Limit"),
                parameter_ref("Offset"),
            ],
            responses,
        ),
    );
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        success_response(
            "The entry.",
            access,
            200,
            schema_ref("ImportEntryWithErrors"),
        ),
    );
    error_responses(paths, access, &["NOT_FOUND"], &mut responses);
    paths.add(
        "/api-sync/imports/{id}",
        "get",
        operation(
            "getImport",
            HISTORY_TAG,
            "One history entry with its per-record errors",
            "",
            vec![json!({
                "name": "id", "in": "path", "required": true, "schema": uuid(),
                "description": "The entry's id.",
            })],
            responses,
        ),
    );

    let access = Access::Public;
    let public = |mut op: Value| {
        op["security"] = json!([]);
        op
    };
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        success_response("The store answers.", access, 200, json!({"const": "ok"})),
    );
    error_responses(paths, access, &[], &mut responses);
    paths.add(
        "/healthz",
        "get",
        public(operation(
            "getHealth",
            SERVICE_TAG,
            "Health check",
            "200 when the store answers; no key needed.",
            vec![],
            responses,
        )),
    );
    let plain = |description: &str, media: &str, schema: Value| {
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({
                "description": description,
                "headers": response_headers(access, 200),
                "content": {media: {"schema": schema}},
            }),
        );
        responses
    };
    paths.add(
        "/openapi.json",
        "get",
        public(operation(
            "getOpenApiDocument",
            SERVICE_TAG,
            "This OpenAPI 3.1 document",
            "No key needed.",
            vec![],
            plain(
                "The document.",
                "application/json",
                json!({"type": "object"}),
            ),
        )),
    );
    paths.add(
        "/docs",
        "get",
        public(operation(
            "getDocs",
            SERVICE_TAG,
            "Human-readable API reference",
            "An HTML page that renders this document, with a plain list of endpoints when its \
             script cannot load. No key needed.",
            vec![],
            plain("The page.", "text/html", json!({"type": "string"})),
        )),
    );
}

const DESCRIPTION: &str = "\
Upsert server for ERP → MES synchronisation. The ERP sends jobs (sales orders) with nested \
parts (work orders) and operations (routing steps), plus cells (work centers) and resources \
(equipment), each keyed by its own `external_id` within an `external_source`.

- Every `/api-*` call needs `Authorization: Bearer ery_live_…` (or `ery_test_…`); live and test \
keys see separate data.
- Bodies must be sent with `Content-Type: application/json`.
- Absent keeps, null clears: a field left out keeps its stored value; `null` clears it (fields \
with a default go back to it). Required fields cannot be `null`. Unknown fields are refused.
- Texts never contain NUL characters.
- Sync order for an initial load: cells, resources, jobs, parts, operations.
- Every error has the envelope `{\"success\": false, \"error\": {\"code\", \"message\", \
\"details\"?}}`. An unknown path answers 404 `NOT_FOUND`; a known path with the wrong method \
405 `METHOD_NOT_ALLOWED`.";

fn build() -> Value {
    let mut paths = Paths::default();
    for entity in Entity::ALL {
        entity_paths(entity, &mut paths);
    }
    service_paths(&mut paths);
    let mut tags: Vec<Value> = Entity::ALL
        .iter()
        .map(|e| json!({"name": titles(*e)}))
        .collect();
    tags.push(json!({"name": HISTORY_TAG}));
    tags.push(json!({"name": SERVICE_TAG}));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Eryxon Sync API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": tags,
        "security": [{"bearerAuth": []}],
        "paths": paths.items,
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "ery_live_… or ery_test_… followed by 40 base62 characters",
                "description": "An API key from `eryxon api-key create`.",
            }},
            "schemas": components_schemas(),
            "parameters": components_parameters(),
            "headers": components_headers(),
            "responses": paths.errors,
        },
    })
}

/// The document, built on first use.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| document().to_string())
}

pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_text(),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Pinned so the page renders the same on every visit.
const REDOC: &str = "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js";

fn page() -> String {
    let mut rows = String::new();
    if let Some(paths) = document()["paths"].as_object() {
        for (path, item) in paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                rows.push_str(&format!(
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
                    method.to_uppercase(),
                    escape(path),
                    escape(op["summary"].as_str().unwrap_or_default()),
                ));
            }
        }
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Eryxon Sync API</title>
<style>
body {{ margin: 0; font-family: system-ui, sans-serif; }}
#endpoints {{ max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
#endpoints td {{ padding: 0.2rem 0.8rem 0.2rem 0; vertical-align: top; }}
</style>
</head>
<body>
<div id="redoc"></div>
<section id="endpoints">
<h1>Eryxon Sync API</h1>
<p>The full description is the OpenAPI 3.1 document at <a href="/openapi.json">/openapi.json</a>.
This plain list shows while the interactive reference (a script from a CDN) has not loaded.
Every <code>/api-*</code> call needs <code>Authorization: Bearer ery_live_…</code> (or <code>ery_test_…</code>).</p>
<table>
{rows}</table>
</section>
<script src="{REDOC}" onload="document.getElementById('endpoints').hidden = true; Redoc.init('/openapi.json', {{}}, document.getElementById('redoc'))"></script>
</body>
</html>
"#
    )
}

pub async fn docs() -> Html<&'static str> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(page).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decode::{decode, FieldError};
    use crate::domain::record::{
        CellPayload, JobPayload, OperationPayload, PartPayload, Payload, ResourcePayload,
    };
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
            Kind::Text | Kind::Date | Kind::Reference(_) => "string",
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
                assert_eq!((field.value)()["type"], expected, "{}", field.name);
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
            ApiError::NotFound("m".into()),
            ApiError::Conflict("m".into()),
            ApiError::InvalidTransition("m".into()),
            ApiError::CursorExpired { days: 30 },
            ApiError::IdempotencyKeyReused,
            ApiError::IdempotencyInProgress,
            ApiError::MethodNotAllowed,
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType("m".into()),
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
                | ApiError::NotFound(_)
                | ApiError::Conflict(_)
                | ApiError::InvalidTransition(_)
                | ApiError::CursorExpired { .. }
                | ApiError::IdempotencyKeyReused
                | ApiError::IdempotencyInProgress
                | ApiError::MethodNotAllowed
                | ApiError::PayloadTooLarge { .. }
                | ApiError::UnsupportedMediaType(_)
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
}
