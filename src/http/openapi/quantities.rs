//! The produced-quantity routes' schemas and answers (`http/quantities.rs`): the report as
//! sent and as stored, and the operation with its totals that a report answers.

use std::collections::BTreeMap;

use serde_json::json;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType};
use utoipa::PartialSchema;

use super::errors::{success_response, Access};
use super::examples::request_body;
use super::parameters::{self, query};
use super::schemas::{
    array_of, count, described, integer, nullable, schema_ref, string, timestamp, uuid,
    with_default, Object, S,
};
use crate::domain::quantity::ClientEventId;
use crate::domain::value::{LongText, Name, NonNegative, ShortText, Source};

fn nullable_text() -> S {
    nullable(string())
}

fn input() -> S {
    let mut object = Object::default();
    let units = |about: &str| with_default(described(NonNegative::schema(), about), json!(0));
    object
        .field(
            "operation_id",
            described(
                uuid(),
                "The operation's id; or send external_source and external_id.",
            ),
            false,
        )
        .field(
            "external_source",
            described(
                Source::schema(),
                "The operation's ERP system, with external_id.",
            ),
            false,
        )
        .field(
            "external_id",
            described(
                Name::schema(),
                "The operation's external id, with external_source.",
            ),
            false,
        )
        .field("good", units("Good units produced."), false)
        .field("scrap", units("Units scrapped."), false)
        .field("rework", units("Units sent to rework."), false)
        .field("scrap_reason", LongText::schema(), false)
        .field("material_lot", ShortText::schema(), false)
        .field("operator", ShortText::schema(), false)
        .field(
            "recorded_at",
            described(
                timestamp(),
                "When it was produced (RFC 3339, at most 60 s ahead of the server); default: now.",
            ),
            false,
        )
        .field(
            "client_event_id",
            described(
                ClientEventId::schema(),
                "The terminal's id of this report, unique per tenant and mode. A retry with the \
                 same id and report answers the first one (200) and is counted once; with a \
                 different report it is refused (422 IDEMPOTENCY_MISMATCH).",
            ),
            false,
        );
    let required = |names: &[&str]| {
        let mut schema = ObjectBuilder::new().schema_type(SchemaType::AnyValue);
        for name in names {
            schema = schema.required(*name);
        }
        schema
    };
    let target = OneOfBuilder::new()
        .item(required(&["operation_id"]))
        .item(required(&["external_source", "external_id"]))
        .into();
    object.all_of(vec![target]);
    described(
        object.build(true),
        "At least one of good, scrap and rework must be more than 0.",
    )
}

fn report() -> S {
    let mut object = Object::default();
    object
        .field("id", uuid(), true)
        .field("operation_id", uuid(), true)
        .field("external_source", string(), true)
        .field("external_id", string(), true)
        .field("good", count(), true)
        .field("scrap", count(), true)
        .field("rework", count(), true)
        .field("scrap_reason", nullable_text(), true)
        .field("material_lot", nullable_text(), true)
        .field("operator", nullable_text(), true)
        .field("recorded_at", timestamp(), true)
        .field("client_event_id", nullable_text(), true)
        .field("created_at", timestamp(), true);
    object.build(false)
}

fn operation() -> S {
    let mut job = Object::default();
    job.field("id", uuid(), true)
        .field("external_id", string(), true)
        .field("job_number", string(), true);
    let mut part = Object::default();
    part.field("id", uuid(), true)
        .field("external_id", string(), true)
        .field("part_number", string(), true)
        .field("job", job.build(false), true);
    let mut object = Object::default();
    object
        .field("id", uuid(), true)
        .field("external_source", string(), true)
        .field("external_id", string(), true)
        .field("operation_name", string(), true)
        .field("sequence", nullable(integer()), true)
        .field("status", string(), true)
        .field("started_at", nullable(timestamp()), true)
        .field("paused_at", nullable(timestamp()), true)
        .field("completed_at", nullable(timestamp()), true)
        .field("actual_time_minutes", count(), true)
        .field("completion_percentage", count(), true)
        .field(
            "quantity_good",
            described(count(), "The operation's totals."),
            true,
        )
        .field("quantity_scrap", count(), true)
        .field("quantity_rework", count(), true)
        .field("part_id", uuid(), true)
        .field("cell_id", uuid(), true)
        .field("updated_at", timestamp(), true)
        .field("part", part.build(false), true);
    object.build(false)
}

/// The schemas under `components/schemas`.
pub fn schemas(schemas: &mut BTreeMap<String, S>) {
    schemas.insert("QuantityReportInput".into(), input());
    schemas.insert("QuantityReport".into(), report());
    schemas.insert("OperationProgress".into(), operation());
    let mut recorded = Object::default();
    recorded
        .field("report", schema_ref("QuantityReport"), true)
        .field("operation", schema_ref("OperationProgress"), true);
    schemas.insert("QuantityRecorded".into(), recorded.build(false));
}

/// `POST /api-operation-quantities`: its body and its answers.
pub fn report_answers() -> (RequestBody, Vec<(u16, utoipa::openapi::Response)>) {
    let body = request_body(
        "QuantityReportInput",
        vec![
            (
                "by_id",
                "Good and scrap units on an operation named by id",
                json!({"operation_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "good": 48,
                    "scrap": 2, "scrap_reason": "burr", "operator": "ana",
                    "client_event_id": "terminal-7-000123"}),
            ),
            (
                "by_external_id",
                "Good units on an operation named by the ERP's key",
                json!({"external_source": "SAP", "external_id": "SO-12345-10-0010",
                    "good": 10, "material_lot": "LOT-42",
                    "recorded_at": "2024-05-01T08:30:00Z"}),
            ),
        ],
    );
    let recorded = || schema_ref("QuantityRecorded");
    let access = Access::Key;
    let answers = vec![
        (
            201,
            success_response("The report, counted.", access, 201, recorded()),
        ),
        (
            200,
            success_response(
                "A retry: the first report with this client_event_id, counted once; the \
                 operation as it is now.",
                access,
                200,
                recorded(),
            ),
        ),
    ];
    (body, answers)
}

/// `GET /api-operation-quantities`: its parameter and its answer.
pub fn list_answers() -> (Vec<Parameter>, Vec<(u16, utoipa::openapi::Response)>) {
    let mut list = Object::default();
    list.field(
        "quantity_reports",
        described(array_of(schema_ref("QuantityReport")), "Oldest first."),
        true,
    )
    .field("pagination", schema_ref("Pagination"), true);
    let ok = success_response("The reports.", Access::Key, 200, list.build(false));
    let mut operation = query("operation_id", uuid(), "The operation's id.");
    operation.required = utoipa::openapi::Required::True;
    (
        vec![operation, parameters::limit(), parameters::offset()],
        vec![(200, ok)],
    )
}
