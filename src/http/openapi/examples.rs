//! The API reference's request examples, in the document beside the request schemas (the
//! tests send each one and check the answer).

use serde_json::{json, Value};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::request_body::{RequestBody, RequestBodyBuilder};
use utoipa::openapi::{ContentBuilder, Required};

use super::schemas::schema_ref;
use crate::domain::schema::Entity;

/// The API reference's request examples, sent as they are.
pub fn examples(entity: Entity) -> Vec<(&'static str, &'static str, Value)> {
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
pub fn bulk_example(entity: Entity) -> Value {
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

/// A required JSON body of the named schema, with its examples.
pub fn request_body(schema: &str, examples: Vec<(&str, &str, Value)>) -> RequestBody {
    let examples = examples.into_iter().map(|(name, summary, value)| {
        (
            name,
            ExampleBuilder::new()
                .summary(summary)
                .value(Some(value))
                .build(),
        )
    });
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(schema_ref(schema)))
                .examples_from_iter(examples)
                .build(),
        )
        .build()
}
