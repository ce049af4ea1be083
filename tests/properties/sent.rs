//! What a case sends: the records of each table, now and then with one value made
//! invalid, the requests they make, and the writes the server does not make.

use std::fmt;

use eryxon::domain::Entity;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

use crate::declared::{self, optional_fields};
use crate::invalid::sent;
use crate::SOURCE;

/// The four kinds of record a case syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Cells,
    Jobs,
    Parts,
    Operations,
}

impl Table {
    pub fn entity(self) -> Entity {
        match self {
            Table::Cells => Entity::Cells,
            Table::Jobs => Entity::Jobs,
            Table::Parts => Entity::Parts,
            Table::Operations => Entity::Operations,
        }
    }

    /// Every own field of a stored record, as declared.
    pub fn fields(self) -> Vec<&'static str> {
        declared::fields(self.entity())
    }

    /// What a field holds when nothing (or null) was sent.
    pub fn default_of(self, field: &str) -> Value {
        declared::default_of(self.entity(), field)
    }
}

/// One record as sent, and the field path of the one value made invalid, if any.
#[derive(Debug, Clone)]
pub struct Sent {
    pub json: Value,
    pub invalid: Option<String>,
}

/// One bulk-sync request: its records and, for jobs, the request's `children` mode.
#[derive(Clone)]
pub struct Step {
    pub table: Table,
    pub children: Option<&'static str>,
    pub records: Vec<Sent>,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n  {:?}", self.table)?;
        if let Some(children) = self.children {
            write!(f, " ?children={children}")?;
        }
        for sent in &self.records {
            write!(f, "\n    {}", sent.json)?;
            if let Some(field) = &sent.invalid {
                write!(f, "  <- invalid {field}")?;
            }
        }
        Ok(())
    }
}

/// A record of its required fields and of the optional ones it sends (`None` left out).
fn record(required: Vec<(&str, Value)>, optional: Vec<(&str, Option<Value>)>) -> Value {
    let mut map = Map::new();
    for (key, value) in required {
        map.insert(key.into(), value);
    }
    for (key, value) in optional {
        if let Some(value) = value {
            map.insert(key.into(), value);
        }
    }
    Value::Object(map)
}

fn key<const N: usize>(prefix: &str, n: [u8; N]) -> Vec<String> {
    n.iter().map(|i| format!("{prefix}{i}")).collect()
}

fn cell() -> impl Strategy<Value = Value> {
    (
        select(key("C", [1, 2, 3])),
        select(vec!["Cut", "Bend", "Weld"]),
        optional_fields(Entity::Cells),
    )
        .prop_map(|(id, name, fields)| {
            record(
                vec![
                    ("external_id", json!(id)),
                    ("external_source", json!(SOURCE)),
                    ("name", json!(name)),
                ],
                fields,
            )
        })
}

/// An operation; a flat one names its source and its part.
fn operation(flat: bool, id: impl Strategy<Value = String>) -> impl Strategy<Value = Value> {
    (
        id,
        select(vec!["Saw", "Drill"]),
        prop_oneof![6 => select(vec!["Cut", "Bend", "Weld"]), 1 => Just("Paint")],
        optional_fields(Entity::Operations),
        select(key("P", [1, 2, 3])),
    )
        .prop_map(move |(id, name, cell, fields, part)| {
            let mut required = vec![
                ("external_id", json!(id)),
                ("operation_name", json!(name)),
                ("cell_name", json!(cell)),
            ];
            if flat {
                required.push(("external_source", json!(SOURCE)));
                required.push(("part_external_id", json!(part)));
            }
            record(required, fields)
        })
}

/// Nested children: left out, or a list (maybe empty) of distinct keys among `ids`, in order.
fn nested<S: Strategy<Value = Value>>(
    ids: Vec<String>,
    most: usize,
    child: impl Fn(Just<String>) -> S + 'static,
) -> impl Strategy<Value = Option<Value>> {
    let list = proptest::sample::subsequence(ids, 0..=most)
        .prop_flat_map(move |ids| {
            ids.into_iter()
                .map(|id| child(Just(id)))
                .collect::<Vec<_>>()
        })
        .prop_map(|c| Some(Value::Array(c)));
    prop_oneof![1 => Just(None), 4 => list]
}

/// A part with its operations; a flat one names its source and its job.
fn part(flat: bool, id: impl Strategy<Value = String>) -> impl Strategy<Value = Value> {
    (
        id,
        select(vec!["A", "B"]),
        optional_fields(Entity::Parts),
        nested(key("O", [1, 2, 3, 4]), 3, |id| operation(false, id)),
        select(key("J", [1, 2, 3])),
    )
        .prop_map(move |(id, number, mut fields, operations, job)| {
            let mut required = vec![("external_id", json!(id)), ("part_number", json!(number))];
            if flat {
                required.push(("external_source", json!(SOURCE)));
                required.push(("job_external_id", json!(job)));
            }
            fields.push(("operations", operations));
            record(required, fields)
        })
}

fn job() -> impl Strategy<Value = Value> {
    (
        select(key("J", [1, 2, 3])),
        select(vec!["1", "2"]),
        optional_fields(Entity::Jobs),
        prop_oneof![6 => Just(None), 1 => Just(Some(json!("merge"))), 2 => Just(Some(json!("replace")))],
        nested(key("P", [1, 2, 3]), 2, |id| part(false, id)),
    )
        .prop_map(|(id, number, mut fields, mode, parts)| {
            fields.push(("children", mode));
            fields.push(("parts", parts));
            record(
                vec![
                    ("external_id", json!(id)),
                    ("external_source", json!(SOURCE)),
                    ("job_number", json!(number)),
                ],
                fields,
            )
        })
}

fn batch(
    table: Table,
    json: impl Strategy<Value = Value>,
    most: usize,
) -> impl Strategy<Value = Vec<Sent>> {
    proptest::collection::vec(sent(table, json), 1..=most)
}

fn step() -> impl Strategy<Value = Step> {
    let step = |table, children| {
        move |records| Step {
            table,
            children,
            records,
        }
    };
    prop_oneof![
        1 => batch(Table::Cells, cell(), 2).prop_map(step(Table::Cells, None)),
        4 => batch(Table::Jobs, job(), 2).prop_map(step(Table::Jobs, None)),
        1 => batch(Table::Jobs, job(), 2).prop_map(step(Table::Jobs, Some("replace"))),
        2 => batch(Table::Parts, part(true, select(key("P", [1, 2, 3]))), 2).prop_map(step(Table::Parts, None)),
        2 => batch(Table::Operations, operation(true, select(key("O", [1, 2, 3, 4]))), 3).prop_map(step(Table::Operations, None)),
    ]
}

/// A sequence of syncs. It starts with three cells of distinct names, so operations have cells
/// to name (later cell syncs may rename or deactivate them), then jobs, so parts and operations
/// have parents; `None` sends the previous request again, so that records meet stored values
/// equal to theirs.
pub fn steps() -> impl Strategy<Value = Vec<Step>> {
    let again = prop_oneof![4 => step().prop_map(Some), 1 => Just(None)];
    let jobs = batch(Table::Jobs, job(), 3).prop_map(|records| Step {
        table: Table::Jobs,
        children: None,
        records,
    });
    (jobs, proptest::collection::vec(again, 0..=6)).prop_map(|(jobs, rest)| {
        let cells = Step {
            table: Table::Cells,
            children: None,
            records: [("C1", "Cut"), ("C2", "Bend"), ("C3", "Weld")]
                .into_iter()
                .map(|(id, name)| Sent {
                    json: json!({"external_id": id, "external_source": SOURCE, "name": name}),
                    invalid: None,
                })
                .collect(),
        };
        let mut steps = vec![cells, jobs];
        for step in rest {
            let step = step.unwrap_or_else(|| steps.last().unwrap().clone());
            steps.push(step);
        }
        steps
    })
}

/// A write to a tenant's jobs that no sync makes.
#[derive(Debug, Clone)]
pub enum Outside {
    /// Another program sets a job's number in the database, deleted or not.
    Edit { job: String, number: String },
    /// A job is deleted through the API, with its live parts and their live operations.
    Delete { job: String },
}

pub fn outside() -> impl Strategy<Value = Outside> {
    prop_oneof![
        (
            select(key("J", [1, 2, 3])),
            select(vec!["1", "2", "edited"])
        )
            .prop_map(|(job, number)| Outside::Edit {
                job,
                number: number.to_owned(),
            }),
        select(key("J", [1, 2, 3])).prop_map(|job| Outside::Delete { job }),
    ]
}
