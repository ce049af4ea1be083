//! Making one value of a record invalid, in every way the API refuses.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

use crate::sent::{Sent, Table};

/// The shapes a record takes, for choosing what to make invalid.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Cell,
    Job,
    NestedPart,
    FlatPart,
    NestedOperation,
    FlatOperation,
}

/// Ways to make one field of a record invalid: the field and its new value (`None` leaves a
/// required field out). Each one alone must reject the record with that field named.
fn invalid_values(shape: Shape) -> Vec<(&'static str, Option<Value>)> {
    let long = json!("x".repeat(256));
    let some_uuid = json!("0190c6f8-0000-7000-8000-000000000000");
    let mut ways = match shape {
        Shape::Cell => vec![
            ("name", None),
            ("name", Some(json!(" "))),
            ("color", Some(json!("red"))),
            ("active", Some(json!("yes"))),
            ("wip_limit", Some(json!(-1))),
        ],
        Shape::Job => vec![
            ("job_number", None),
            ("job_number", Some(Value::Null)),
            ("due_date", Some(json!("2025-02-30"))),
            ("priority", Some(json!(-1))),
            ("priority", Some(json!("high"))),
            ("status", Some(json!("done"))),
            ("metadata", Some(json!([1]))),
            ("customer", Some(long)),
            ("children", Some(json!("all"))),
        ],
        Shape::NestedPart | Shape::FlatPart => vec![
            ("part_number", None),
            ("quantity", Some(json!(0))),
            ("quantity", Some(json!(1.5))),
            ("material", Some(long)),
        ],
        Shape::NestedOperation | Shape::FlatOperation => vec![
            ("operation_name", None),
            ("sequence", Some(json!(0))),
            ("estimated_time_minutes", Some(json!(-5))),
            ("status", Some(json!("done"))),
            ("cell_name", None),
            ("cell_name", Some(json!(""))),
        ],
    };
    ways.push(("qty", Some(json!(1))));
    match shape {
        Shape::NestedPart => {
            ways.push(("external_source", Some(json!("OTHER"))));
            ways.push(("job_external_id", Some(json!("J9"))));
            ways.push(("job_id", Some(some_uuid)));
        }
        Shape::FlatPart => {
            ways.push(("external_source", None));
            ways.push(("job_external_id", None));
            ways.push(("job_external_id", Some(json!(""))));
        }
        Shape::NestedOperation => {
            ways.push(("external_source", Some(json!("OTHER"))));
            ways.push(("part_external_id", Some(json!("P9"))));
        }
        Shape::FlatOperation => {
            ways.push(("part_external_id", None));
            ways.push(("cell_id", Some(some_uuid)));
        }
        Shape::Cell | Shape::Job => {}
    }
    ways
}

/// Every record of a tree: its JSON pointer, its field-path prefix and its shape.
fn positions(table: Table, json: &Value) -> Vec<(String, String, Shape)> {
    let top = match table {
        Table::Cells => Shape::Cell,
        Table::Jobs => Shape::Job,
        Table::Parts => Shape::FlatPart,
        Table::Operations => Shape::FlatOperation,
    };
    let mut found = vec![(String::new(), String::new(), top)];
    let operations = |pointer: &str, path: &str, part: &Value, found: &mut Vec<_>| {
        for j in 0..part["operations"].as_array().map_or(0, Vec::len) {
            found.push((
                format!("{pointer}/operations/{j}"),
                format!("{path}operations[{j}]."),
                Shape::NestedOperation,
            ));
        }
    };
    match table {
        Table::Jobs => {
            for i in 0..json["parts"].as_array().map_or(0, Vec::len) {
                let (pointer, path) = (format!("/parts/{i}"), format!("parts[{i}]."));
                found.push((pointer.clone(), path.clone(), Shape::NestedPart));
                operations(&pointer, &path, &json["parts"][i], &mut found);
            }
        }
        Table::Parts => operations("", "", json, &mut found),
        Table::Cells | Table::Operations => {}
    }
    found
}

/// A record, now and then with one value made invalid.
pub fn sent(table: Table, json: impl Strategy<Value = Value>) -> impl Strategy<Value = Sent> {
    (
        json,
        proptest::option::weighted(0.2, (any::<Index>(), any::<Index>())),
    )
        .prop_map(move |(mut json, corruption)| {
            let Some((at, how)) = corruption else {
                return Sent {
                    json,
                    invalid: None,
                };
            };
            let (pointer, path, shape) = at.get(&positions(table, &json)).clone();
            let (field, value) = how.get(&invalid_values(shape)).clone();
            let object = json
                .pointer_mut(&pointer)
                .and_then(Value::as_object_mut)
                .expect("a record");
            match value {
                Some(value) => object.insert(field.into(), value),
                None => object.remove(field),
            };
            Sent {
                json,
                invalid: Some(format!("{path}{field}")),
            }
        })
}
