//! The request and record schemas of each entity, generated from its columns
//! (`Entity::columns()`) and the document entries `payload!` declares with each field
//! (`Entity::fields()`: its value type's utoipa schema and prose), so that a new field shows up
//! here by itself.

use serde_json::{json, Value};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType};
use utoipa::PartialSchema;

use super::schemas::{
    array_of, count, described, nullable, one_of, schema_ref, string, timestamp, uuid,
    with_default, Object, S,
};
use crate::domain::batch::MAX_BULK_RECORDS;
use crate::domain::fields::Field;
use crate::domain::schema::{Column, Default as ColumnDefault, Entity, Kind};
use crate::domain::value::{Name, Source};

/// The document entry of an own column. `payload!` declares every column field with its
/// entry, so each own column has one (`every_own_column_is_documented_once` checks it).
pub fn field_of(entity: Entity, column: &Column) -> &'static Field {
    entity
        .fields()
        .iter()
        .find(|f| f.name == column.name)
        .expect("payload! declares every own column with its document entry")
}

fn default_value(default: ColumnDefault) -> Value {
    match default {
        ColumnDefault::Text(text) => json!(text),
        ColumnDefault::Int(n) => json!(n),
        ColumnDefault::Bool(b) => json!(b),
    }
}

pub fn title(entity: Entity) -> &'static str {
    match entity {
        Entity::Jobs => "Job",
        Entity::Parts => "Part",
        Entity::Operations => "Operation",
        Entity::Cells => "Cell",
        Entity::Resources => "Resource",
    }
}

pub fn titles(entity: Entity) -> String {
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
pub enum Placement {
    TopLevel,
    Nested,
}

pub fn input_name(entity: Entity, placement: Placement) -> String {
    match placement {
        Placement::TopLevel => format!("{}Input", title(entity)),
        Placement::Nested => format!("Nested{}Input", title(entity)),
    }
}

/// A reference to a parent sent by key or by id: the two fields, and the rule that exactly
/// one of them is sent.
fn alternative(
    object: &mut Object,
    alternatives: &mut Vec<S>,
    (by_key, key): (&str, S),
    by_id: (&str, S),
) {
    object.field(by_key, key, false);
    object.field(by_id.0, by_id.1, false);
    let required = |name: &str| {
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .required(name)
    };
    alternatives.push(
        OneOfBuilder::new()
            .item(required(by_key))
            .item(required(by_id.0))
            .into(),
    );
}

pub fn input_schema(entity: Entity, placement: Placement) -> S {
    let mut object = Object::default();
    // Pairs of fields of which exactly one must be sent (a reference by key or by id).
    let mut alternatives: Vec<S> = Vec::new();
    object.field(
        "external_id",
        described(
            Name::schema(),
            "The ERP's key of the record; with external_source, its identity.",
        ),
        true,
    );
    match placement {
        Placement::TopLevel => object.field(
            "external_source",
            described(
                Source::schema(),
                "The ERP system the record comes from (SAP, NetSuite, …).",
            ),
            true,
        ),
        Placement::Nested => object.field(
            "external_source",
            described(
                nullable(Source::schema()),
                "Inherited from the enclosing record; if sent, it must be the same.",
            ),
            false,
        ),
    };
    for column in entity.columns() {
        match column.kind {
            Kind::Reference(Entity::Cells) => alternative(
                &mut object,
                &mut alternatives,
                (
                    reference_field(Entity::Cells),
                    described(
                        Name::schema(),
                        "The exact name of an active cell, whatever its external_source. \
                         Send this or cell_id.",
                    ),
                ),
                (
                    "cell_id",
                    described(
                        nullable(uuid()),
                        "The id of an active cell, instead of cell_name.",
                    ),
                ),
            ),
            Kind::Reference(parent) => match placement {
                Placement::TopLevel => {
                    let by_id = match parent {
                        Entity::Jobs => "job_id",
                        _ => "part_id",
                    };
                    let key = format!(
                        "The external_id of the {} this {} belongs to, in the same \
                         external_source. Send this or {}_id.",
                        parent.singular(),
                        entity.singular(),
                        parent.singular()
                    );
                    let id = format!(
                        "The id of the {}, instead of its external_id.",
                        parent.singular()
                    );
                    alternative(
                        &mut object,
                        &mut alternatives,
                        (reference_field(parent), described(Name::schema(), &key)),
                        (by_id, described(nullable(uuid()), &id)),
                    )
                }
                Placement::Nested => {
                    let about = format!(
                        "Inherited from the enclosing {}; if sent, it must be its external_id.",
                        parent.singular()
                    );
                    object.field(
                        reference_field(parent),
                        described(nullable(Name::schema()), &about),
                        false,
                    );
                }
            },
            _ => {
                let field = field_of(entity, column);
                let mut schema = described((field.request)(), field.about);
                if let Some(default) = column.default {
                    schema = with_default(schema, default_value(default));
                }
                object.field(column.name, schema, !field.optional);
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
                     children is replace; then this list is required ([] deletes every part).",
                ),
                false,
            );
            let children = one_of([json!("merge"), json!("replace")])
                .description(Some(
                    "replace: stored parts and operations this payload leaves out are deleted. \
                     Overrides the request's ?children=.",
                ))
                .into();
            object.field("children", nullable(children), false);
        }
        Entity::Parts => {
            object.field(
                "operations",
                described(
                    array_of(schema_ref(&input_name(
                        Entity::Operations,
                        Placement::Nested,
                    ))),
                    "The part's operations (routing steps). Under the job's children=replace this \
                     list is required ([] deletes every operation).",
                ),
                false,
            );
        }
        _ => {}
    }
    if !alternatives.is_empty() {
        object.all_of(alternatives);
    }
    object.build(true)
}

pub fn bulk_input_schema(entity: Entity) -> S {
    let records = utoipa::openapi::schema::ArrayBuilder::new()
        .items(schema_ref(&input_name(entity, Placement::TopLevel)))
        .max_items(Some(MAX_BULK_RECORDS))
        .description(Some(format!(
            "Up to {MAX_BULK_RECORDS} records. Each is checked on its own: an invalid one \
             becomes an error result and does not block the others."
        )));
    let mut object = Object::default();
    object.field(entity.plural(), records.into(), true);
    described(
        object.build(true),
        &format!(
            "The list may also be sent as `items`, the key Eryxon's hosted API uses \
             (`{{\"items\": [...]}}`), instead of `{}`; not both.",
            entity.plural()
        ),
    )
}

pub fn record_name(entity: Entity, with_children: bool) -> String {
    match (entity, with_children) {
        (Entity::Jobs, true) => "JobWithParts".to_owned(),
        (Entity::Parts, true) => "PartWithOperations".to_owned(),
        _ => title(entity).to_owned(),
    }
}

/// What a column the floor writes and no sync does means (`Entity::read_only_columns`).
fn read_only_about(entity: Entity, column: &str) -> &'static str {
    match (entity, column) {
        (Entity::Operations, "quantity_good") => {
            "Good units the floor reported on this operation (POST /api-operation-quantities). \
             Read-only: no sync changes it."
        }
        (Entity::Operations, "quantity_scrap") => {
            "Scrapped units the floor reported on this operation. Read-only."
        }
        (Entity::Operations, "quantity_rework") => {
            "Units sent to rework the floor reported on this operation. Read-only."
        }
        (Entity::Parts, "quantity_good") => {
            "Good units of the part: those reported on its last live operation (by sequence, \
             unsequenced last). Read-only: no sync changes it."
        }
        (Entity::Parts, "quantity_scrap") => {
            "Scrapped units reported on all of the part's live operations. Read-only."
        }
        (Entity::Parts, "quantity_rework") => {
            "Rework units reported on all of the part's live operations. Read-only."
        }
        (Entity::Jobs | Entity::Operations, "started_at") => {
            "When the floor first started it (lifecycle `start`). Read-only: no sync changes it."
        }
        (Entity::Jobs | Entity::Operations, "paused_at") => {
            "When the floor last put it on hold, while it is on hold. Read-only."
        }
        (Entity::Jobs, "resumed_at") => "When the floor last resumed it. Read-only.",
        (_, "completed_at") => {
            "When it was completed: by the floor, or (a part) with its last operation. Read-only."
        }
        (Entity::Operations, "actual_time_minutes") => {
            "Minutes worked on it: its closed time entries (start or resume to pause or \
             complete), in whole minutes rounded to the nearest. Read-only."
        }
        (Entity::Jobs, "actual_duration_minutes") => {
            "Minutes it spent in progress: its closed stretches (start or resume to stop or \
             complete), in whole minutes rounded to the nearest. Read-only."
        }
        (Entity::Operations, "completion_percentage") => {
            "100 once the floor completed the operation, else 0. Read-only."
        }
        (entity, column) => unreachable!("{column} of {} is undocumented", entity.plural()),
    }
}

/// A record as reads show it: every column, always present, `null` when not set.
pub fn record_schema(entity: Entity, with_children: bool) -> S {
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
    for column in entity.read_only_columns() {
        let value = match column.kind {
            Kind::Time => nullable(timestamp()),
            _ => count(),
        };
        object.field(
            column.name,
            described(value, read_only_about(entity, column.name)),
            true,
        );
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
