//! The fields a case sends and checks, as the server declares them: each entity's own columns
//! (`Entity::columns()`, with their kinds and defaults) and each one's value schema, the one
//! the API document serves (`Entity::fields()`). Values valid and invalid are read from that
//! schema, so a field added to a declaration is sent, made invalid and compared without a
//! change here. What the model then expects of those values is still its own.

use eryxon::domain::schema::{Column, Default, Kind};
use eryxon::domain::Entity;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

/// The entity's own columns (all but references), in column order.
pub fn own(entity: Entity) -> impl Iterator<Item = &'static Column> {
    entity
        .columns()
        .iter()
        .filter(|c| !matches!(c.kind, Kind::Reference(_)))
}

/// The names of the entity's own columns: the fields of a stored record.
pub fn fields(entity: Entity) -> Vec<&'static str> {
    own(entity).map(|c| c.name).collect()
}

fn column(entity: Entity, name: &str) -> &'static Column {
    own(entity)
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{entity:?} has no own column {name}"))
}

/// The field's schema in the API document, and whether a request may leave it out.
fn schema(entity: Entity, name: &str) -> (Value, bool) {
    let field = entity
        .fields()
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{entity:?}.{name} has no document entry"));
    (
        serde_json::to_value((field.value)()).expect("a schema serializes"),
        field.optional,
    )
}

/// What a field holds when nothing (or null) was sent: its column's default, else null.
pub fn default_of(entity: Entity, name: &str) -> Value {
    match column(entity, name).default {
        Some(Default::Text(text)) => json!(text),
        Some(Default::Int(int)) => json!(int),
        Some(Default::Bool(flag)) => json!(flag),
        None => Value::Null,
    }
}

/// Two values (a boolean: its default twice, then the other) that a field of this schema
/// takes, few enough that records often meet stored values equal to theirs.
fn valid(entity: Entity, column: &Column, schema: &Value) -> Vec<Value> {
    let bound = |key: &str| schema[key].as_f64();
    if let Some(names) = schema["enum"].as_array() {
        let default = default_of(entity, column.name);
        return names
            .iter()
            .filter(|n| **n != default)
            .take(2)
            .cloned()
            .collect();
    }
    match column.kind {
        Kind::Int => {
            let (min, max) = (
                bound("minimum").unwrap_or(0.0),
                bound("maximum").unwrap_or(1e9),
            );
            vec![json!(min as i64), json!((min + 5.0).min(max) as i64)]
        }
        // Halves, so that no engine could hand back an integer for them.
        Kind::Real => {
            let (min, max) = (
                bound("minimum").unwrap_or(0.0),
                bound("maximum").unwrap_or(1e9),
            );
            vec![json!(min + 0.5), json!((min + 7.5).min(max - 0.5))]
        }
        Kind::Bool => {
            let default = default_of(entity, column.name).as_bool().unwrap_or(true);
            vec![json!(default), json!(default), json!(!default)]
        }
        Kind::Date => vec![json!("2024-12-31"), json!("2025-02-28")],
        Kind::Json => vec![json!({"a": 1}), json!({"b": [true], "a": 2})],
        Kind::Text => match schema["examples"].as_array() {
            Some(examples) => examples.clone(),
            None if schema.get("pattern").is_none_or(|p| p == "\\S") => {
                vec![json!("n1"), json!("n2")]
            }
            None => panic!("no value for {entity:?}.{}: {schema}", column.name),
        },
        Kind::Reference(_) => unreachable!("references are no own fields"),
        Kind::Time => unreachable!("synced columns hold no floor times"),
    }
}

/// The entity's optional own fields, each left out, null, or one of its values: what a
/// record sends besides its keys, its references and its required fields.
pub fn optional_fields(
    entity: Entity,
) -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    let (names, strategies): (Vec<&'static str>, Vec<_>) = own(entity)
        .filter_map(|column| {
            let (schema, optional) = schema(entity, column.name);
            let values = valid(entity, column, &schema);
            let strategy = prop_oneof![
                3 => Just(None),
                1 => Just(Some(Value::Null)),
                4 => select(values).prop_map(Some),
            ];
            optional.then_some((column.name, strategy))
        })
        .unzip();
    strategies.prop_map(move |values| names.iter().copied().zip(values).collect())
}

/// Ways to make one own field of a record invalid, read from its schema: the field and its
/// new value (`None` leaves a required field out). Each one alone must reject the record with
/// that field named.
pub fn invalid_fields(entity: Entity) -> Vec<(&'static str, Option<Value>)> {
    let mut ways = Vec::new();
    for column in own(entity) {
        let (schema, optional) = schema(entity, column.name);
        let name = column.name;
        if !optional {
            ways.push((name, None));
            ways.push((name, Some(Value::Null)));
        }
        let bound = |key: &str| schema[key].as_f64();
        if schema.get("enum").is_some() {
            ways.push((name, Some(json!("done"))));
            continue;
        }
        match column.kind {
            Kind::Int => {
                if let Some(min) = bound("minimum") {
                    ways.push((name, Some(json!(min as i64 - 1))));
                }
                ways.push((name, Some(json!(1.5))));
                ways.push((name, Some(json!("high"))));
            }
            Kind::Real => {
                if let Some(max) = bound("maximum") {
                    ways.push((name, Some(json!(max + 1.0))));
                }
                ways.push((name, Some(json!("x"))));
            }
            Kind::Bool => ways.push((name, Some(json!("yes")))),
            Kind::Date => ways.push((name, Some(json!("2025-02-30")))),
            Kind::Json => ways.push((name, Some(json!([1])))),
            Kind::Text => {
                if let Some(max) = schema["maxLength"].as_u64() {
                    ways.push((name, Some(json!("x".repeat(max as usize + 1)))));
                }
                if schema["minLength"].as_u64().unwrap_or(0) > 0 {
                    ways.push((name, Some(json!(" "))));
                }
                if schema.get("pattern").is_some_and(|p| p != "\\S") {
                    ways.push((name, Some(json!("red"))));
                }
            }
            Kind::Reference(_) => unreachable!("references are no own fields"),
            Kind::Time => unreachable!("synced columns hold no floor times"),
        }
    }
    ways
}
