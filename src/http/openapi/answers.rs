//! The schemas of what the server answers besides records: sync results, pages, deletions,
//! history entries and the error envelope.

use std::collections::BTreeMap;

use utoipa::openapi::schema::OneOfBuilder;

use super::errors::ERRORS;
use super::records::{
    bulk_input_schema, input_name, input_schema, record_name, record_schema, title, Placement,
};
use super::schemas::{
    array_of, boolean, count, described, exactly, integer, nullable, one_of, schema_ref, string,
    timestamp, uuid, Object, S,
};
use crate::domain::schema::Entity;

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
        .field("action", one_of(actions.iter().copied()).into(), true)
        .field(
            "unchanged",
            exactly(true)
                .description(Some(
                    "Present when nothing stored changed; action is then updated.",
                ))
                .into(),
            false,
        )
        .field(
            "kept",
            described(
                array_of(schema_ref("Kept")),
                "Fields the sync sent that the record kept as they were: the floor owns them \
                 since it acted on the record. Absent when none was kept.",
            ),
            false,
        );
}

fn record_error_code() -> S {
    one_of([
        "VALIDATION_ERROR",
        "REFERENCE_NOT_FOUND",
        "AMBIGUOUS_REFERENCE",
        "CONFLICT",
    ])
    .into()
}

fn nullable_string() -> S {
    nullable(string())
}

fn sync_schemas(schemas: &mut BTreeMap<String, S>) {
    let mut kept = Object::default();
    kept.field(
        "field",
        super::schemas::string_with_examples(&["status"]),
        true,
    )
    .field("reason", string(), true);
    schemas.insert("Kept".into(), kept.build(false));
    let mut child = Object::default();
    synced_fields(&mut child, &["created", "updated", "deleted"]);
    child.field("operations", array_of(schema_ref("SyncedChild")), false);
    let child = described(
        child.build(false),
        "A nested part or operation; deleted when replace mode removed it.",
    );
    schemas.insert("SyncedChild".into(), child);

    let children = |object: &mut Object| {
        object
            .field("parts", array_of(schema_ref("SyncedChild")), false)
            .field("operations", array_of(schema_ref("SyncedChild")), false);
    };
    let mut single = Object::default();
    synced_fields(&mut single, &["created", "updated"]);
    children(&mut single);
    single.field("dry_run", exactly(true).into(), false);
    schemas.insert("SyncResult".into(), single.build(false));

    let mut synced = Object::default();
    synced.field("index", count(), true);
    synced_fields(&mut synced, &["created", "updated"]);
    children(&mut synced);
    schemas.insert("BulkSynced".into(), synced.build(false));

    let mut rejected = Object::default();
    rejected
        .field("index", count(), true)
        .field("external_id", nullable_string(), true)
        .field("action", exactly("error").into(), true)
        .field("error", string(), true)
        .field("code", record_error_code(), true)
        .field("field", nullable_string(), true);
    schemas.insert("BulkRejected".into(), rejected.build(false));

    let results = OneOfBuilder::new()
        .item(schema_ref("BulkSynced"))
        .item(schema_ref("BulkRejected"))
        .into();
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
        .field("dry_run", exactly(true).into(), false)
        .field(
            "results",
            described(array_of(results), "One per record, in input order."),
            true,
        );
    schemas.insert("BulkResult".into(), bulk.build(false));
}

fn history_schemas(schemas: &mut BTreeMap<String, S>) {
    let entity_names: Vec<&str> = Entity::ALL.iter().map(|e| e.plural()).collect();
    let entry = |with_errors: bool| {
        let mut entry = Object::default();
        entry
            .field("id", uuid(), true)
            .field(
                "endpoint",
                super::schemas::string_with_examples(&["PUT /api-jobs/sync"]),
                true,
            )
            .field("entity", one_of(entity_names.clone()).into(), true)
            .field("key_id", uuid(), true)
            .field(
                "sources",
                described(
                    array_of(string()),
                    "The external_source values of the call.",
                ),
                true,
            )
            .field("dry_run", boolean(), true)
            .field("status", integer(), true)
            .field("total", count(), true)
            .field("created", count(), true)
            .field("updated", count(), true)
            .field("unchanged", count(), true)
            .field("errors", count(), true)
            .field(
                "kept",
                described(
                    count(),
                    "Records, nested ones included, that kept a value the shop floor owns \
                     although the call sent another (`kept` in the call's answer).",
                ),
                true,
            )
            .field("duration_ms", count(), true)
            .field("request_id", nullable_string(), true)
            .field("created_at", timestamp(), true);
        if with_errors {
            entry.field("error_details", array_of(schema_ref("ImportError")), false);
            entry.field("kept_details", array_of(schema_ref("ImportKept")), false);
        }
        entry.build(false)
    };
    schemas.insert("ImportEntry".into(), entry(false));
    schemas.insert("ImportEntryWithErrors".into(), entry(true));
    let mut error = Object::default();
    error
        .field(
            "index",
            described(
                nullable(count()),
                "The record's place in the call; null for a call refused whole (`total` 0).",
            ),
            true,
        )
        .field("external_id", nullable_string(), true)
        .field("code", record_error_code(), true)
        .field("field", nullable_string(), true)
        .field("error", string(), true);
    schemas.insert("ImportError".into(), error.build(false));
    let mut kept = Object::default();
    kept.field("index", count(), true)
        .field(
            "entity",
            described(
                one_of(["jobs", "parts", "operations"]).into(),
                "The record's entity: a nested part or operation is listed under its call's index.",
            ),
            true,
        )
        .field("external_id", string(), true)
        .field("field", string(), true)
        .field("reason", string(), true);
    schemas.insert("ImportKept".into(), kept.build(false));
}

fn other_schemas(schemas: &mut BTreeMap<String, S>) {
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
        .field("deleted", exactly(true).into(), true)
        .field("deleted_parts", count(), true)
        .field("deleted_operations", count(), true);
    schemas.insert("Deleted".into(), deleted.build(false));

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
    let mut body = Object::default();
    body.field("code", one_of(ERRORS.iter().map(|e| e.code)).into(), true)
        .field("message", string(), true)
        .field("details", array_of(schema_ref("FieldError")), false);
    let mut envelope = Object::default();
    envelope
        .field("success", exactly(false).into(), true)
        .field("error", body.build(false), true);
    schemas.insert("Error".into(), envelope.build(false));
}

/// Every schema under `components/schemas`.
pub fn components_schemas() -> BTreeMap<String, S> {
    let mut schemas = BTreeMap::new();
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
    history_schemas(&mut schemas);
    other_schemas(&mut schemas);
    schemas
}
