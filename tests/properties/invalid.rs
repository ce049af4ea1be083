//! Making one value of a record invalid, in every way the API refuses.

use eryxon::domain::Entity;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

use crate::declared::invalid_fields;
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

impl Shape {
    fn entity(self) -> Entity {
        match self {
            Shape::Cell => Entity::Cells,
            Shape::Job => Entity::Jobs,
            Shape::NestedPart | Shape::FlatPart => Entity::Parts,
            Shape::NestedOperation | Shape::FlatOperation => Entity::Operations,
        }
    }
}

/// Ways to make one field of a record invalid: the field and its new value (`None` leaves a
/// required field out). Each one alone must reject the record with that field named. The own
/// fields' ways are read from their declaration; the keys, references and request fields'
/// are these.
fn invalid_values(shape: Shape) -> Vec<(&'static str, Option<Value>)> {
    let some_uuid = json!("0190c6f8-0000-7000-8000-000000000000");
    let mut ways = invalid_fields(shape.entity());
    match shape {
        Shape::Job => ways.push(("children", Some(json!("all")))),
        Shape::NestedOperation | Shape::FlatOperation => {
            ways.push(("cell_name", None));
            ways.push(("cell_name", Some(json!(""))));
        }
        Shape::Cell | Shape::NestedPart | Shape::FlatPart => {}
    }
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
