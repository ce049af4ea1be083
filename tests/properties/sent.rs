//! What a case sends: the records of each table, now and then with one value made
//! invalid, the requests they make, and the writes the server does not make.

use std::fmt;

use eryxon::domain::Entity;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

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

    /// Every own field of a stored record, as the README lists them.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Table::Cells => &[
                "name",
                "color",
                "sequence",
                "active",
                "capacity_hours_per_day",
                "wip_limit",
                "notes",
                "metadata",
            ],
            Table::Jobs => &[
                "job_number",
                "customer",
                "due_date",
                "priority",
                "status",
                "notes",
                "metadata",
            ],
            Table::Parts => &[
                "part_number",
                "material",
                "quantity",
                "status",
                "notes",
                "metadata",
            ],
            Table::Operations => &[
                "operation_name",
                "sequence",
                "estimated_time_minutes",
                "status",
                "notes",
                "metadata",
            ],
        }
    }

    /// What a field holds when nothing (or null) was sent.
    pub fn default_of(self, field: &str) -> Value {
        match (self, field) {
            (Table::Cells, "active") => json!(true),
            (Table::Jobs, "priority") => json!(0),
            (Table::Parts, "quantity") => json!(1),
            (Table::Jobs | Table::Parts | Table::Operations, "status") => json!("not_started"),
            _ => Value::Null,
        }
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

/// An optional field: left out, null, or one of these values.
fn field(values: Vec<Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Value::Null)),
        4 => select(values).prop_map(Some),
    ]
}

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
        field(vec![json!("#aabbcc"), json!("#123456")]),
        field(vec![json!(true), json!(true), json!(false)]),
        field(vec![json!(0), json!(3)]),
        field(vec![json!("n1"), json!("n2")]),
    )
        .prop_map(|(id, name, color, active, wip_limit, notes)| {
            record(
                vec![
                    ("external_id", json!(id)),
                    ("external_source", json!(SOURCE)),
                    ("name", json!(name)),
                ],
                vec![
                    ("color", color),
                    ("active", active),
                    ("wip_limit", wip_limit),
                    ("notes", notes),
                ],
            )
        })
}

/// An operation; a flat one names its source and its part.
fn operation(flat: bool, id: impl Strategy<Value = String>) -> impl Strategy<Value = Value> {
    (
        id,
        select(vec!["Saw", "Drill"]),
        prop_oneof![6 => select(vec!["Cut", "Bend", "Weld"]), 1 => Just("Paint")],
        field(vec![json!(1), json!(2)]),
        field(vec![json!(0), json!(30)]),
        field(vec![json!("in_progress"), json!("completed")]),
        select(key("P", [1, 2, 3])),
    )
        .prop_map(move |(id, name, cell, sequence, minutes, status, part)| {
            let mut required = vec![
                ("external_id", json!(id)),
                ("operation_name", json!(name)),
                ("cell_name", json!(cell)),
            ];
            if flat {
                required.push(("external_source", json!(SOURCE)));
                required.push(("part_external_id", json!(part)));
            }
            record(
                required,
                vec![
                    ("sequence", sequence),
                    ("estimated_time_minutes", minutes),
                    ("status", status),
                ],
            )
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
        field(vec![json!("Steel"), json!("Alu")]),
        field(vec![json!(1), json!(7)]),
        field(vec![json!("n1"), json!("n2")]),
        nested(key("O", [1, 2, 3, 4]), 3, |id| operation(false, id)),
        select(key("J", [1, 2, 3])),
    )
        .prop_map(
            move |(id, number, material, quantity, notes, operations, job)| {
                let mut required = vec![("external_id", json!(id)), ("part_number", json!(number))];
                if flat {
                    required.push(("external_source", json!(SOURCE)));
                    required.push(("job_external_id", json!(job)));
                }
                record(
                    required,
                    vec![
                        ("material", material),
                        ("quantity", quantity),
                        ("notes", notes),
                        ("operations", operations),
                    ],
                )
            },
        )
}

fn job() -> impl Strategy<Value = Value> {
    (
        select(key("J", [1, 2, 3])),
        select(vec!["1", "2"]),
        field(vec![json!("Acme"), json!("Beta")]),
        field(vec![json!("2024-12-31"), json!("2025-02-28")]),
        field(vec![json!(0), json!(5)]),
        field(vec![json!("in_progress"), json!("completed")]),
        field(vec![json!({"a": 1}), json!({"b": [true], "a": 2})]),
        prop_oneof![6 => Just(None), 1 => Just(Some(json!("merge"))), 2 => Just(Some(json!("replace")))],
        nested(key("P", [1, 2, 3]), 2, |id| part(false, id)),
    )
        .prop_map(
            |(id, number, customer, due, priority, status, metadata, mode, parts)| {
                record(
                    vec![
                        ("external_id", json!(id)),
                        ("external_source", json!(SOURCE)),
                        ("job_number", json!(number)),
                    ],
                    vec![
                        ("customer", customer),
                        ("due_date", due),
                        ("priority", priority),
                        ("status", status),
                        ("metadata", metadata),
                        ("children", mode),
                        ("parts", parts),
                    ],
                )
            },
        )
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
