//! Property tests of the sync rules on the real stores, SQLite and PostgreSQL.
//!
//! A case is a sequence of bulk syncs over a small key space: cells, jobs with nested parts and
//! operations (cell references by name, `children` merge or replace), and flat parts and
//! operations synced by parent reference. Fields are left out, null or set; now and then one
//! value is made invalid. An in-test model, written from the documented rules and sharing no
//! code with the server, says what each record's answer is and what the store holds after.
//!
//! Every property runs once per engine, on one database per property and a fresh tenant per
//! case. The PostgreSQL ones are ignored by plain `cargo test`; `scripts/test.sh` runs them on
//! the server it starts (see `on_every_engine!`). `PROPTEST_CASES` overrides the number of
//! cases.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use eryxon::domain::api_key::{IssuedKey, TenantSlug};
use eryxon::domain::batch::{prepare_bulk, prepare_one, BulkBody};
use eryxon::domain::decode::decode;
use eryxon::domain::outcome::{Change, Counts, ErrorCode, RecordError, RecordResult, Synced};
use eryxon::domain::record::{
    CellPayload, Children, JobPayload, OperationPayload, PartPayload, Payload, SyncBatch,
};
use eryxon::domain::{Entity, Mode, Scope};
use eryxon::store::{self, Finish, ListQuery, RecordRef, Store};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

#[path = "support/engines.rs"]
mod engines;
use engines::{fresh_postgres_database, Engine};

const SOURCE: &str = "ERP";

// ---------------------------------------------------------------------------------------------
// What is sent

/// The four kinds of record a case syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Cells,
    Jobs,
    Parts,
    Operations,
}

impl Table {
    fn entity(self) -> Entity {
        match self {
            Table::Cells => Entity::Cells,
            Table::Jobs => Entity::Jobs,
            Table::Parts => Entity::Parts,
            Table::Operations => Entity::Operations,
        }
    }

    /// Every own field of a stored record, as the README lists them.
    fn fields(self) -> &'static [&'static str] {
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
    fn default_of(self, field: &str) -> Value {
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
struct Sent {
    json: Value,
    invalid: Option<String>,
}

/// One bulk-sync request: its records and, for jobs, the request's `children` mode.
#[derive(Clone)]
struct Step {
    table: Table,
    children: Option<&'static str>,
    records: Vec<Sent>,
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
fn sent(table: Table, json: impl Strategy<Value = Value>) -> impl Strategy<Value = Sent> {
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
fn steps() -> impl Strategy<Value = Vec<Step>> {
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
enum Outside {
    /// Another program sets a job's number in the database, deleted or not.
    Edit { job: String, number: String },
    /// A job is deleted through the API, with its live parts and their live operations.
    Delete { job: String },
}

fn outside() -> impl Strategy<Value = Outside> {
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

// ---------------------------------------------------------------------------------------------
// The model

/// One stored record: its own fields, its parent's external id (parts, operations), its
/// cell's external id (operations) and whether it is deleted.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    fields: BTreeMap<&'static str, Value>,
    parent: Option<String>,
    cell: Option<String>,
    deleted: bool,
}

/// Everything a tenant holds, by table and external id.
type State = BTreeMap<Table, BTreeMap<String, Row>>;

/// What became of one record: written (with what happened below it), or refused.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    Synced(Tree),
    Rejected(ErrorCode, String),
}

#[derive(Debug, Clone, PartialEq)]
struct Tree {
    external_id: String,
    change: Change,
    /// Parts of a job, operations of a part: the ones sent in input order, then the ones a
    /// replace deleted, by external id.
    children: Vec<Tree>,
}

impl Tree {
    fn leaf(external_id: &str, change: Change) -> Tree {
        Tree {
            external_id: external_id.to_owned(),
            change,
            children: Vec::new(),
        }
    }

    /// A record whose own row did not change counts as updated when anything below changed.
    fn rolled_up(mut self) -> Tree {
        self.children = self.children.into_iter().map(Tree::rolled_up).collect();
        if self.change == Change::Unchanged
            && self.children.iter().any(|c| c.change != Change::Unchanged)
        {
            self.change = Change::Updated;
        }
        self
    }

    fn all_unchanged(&self) -> bool {
        self.change == Change::Unchanged && self.children.iter().all(Tree::all_unchanged)
    }
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().expect("a text field").to_owned()
}

fn list(value: &Value, key: &str) -> Vec<Value> {
    value[key].as_array().cloned().unwrap_or_default()
}

#[derive(Debug, Default)]
struct Model {
    state: State,
}

impl Model {
    fn table(&mut self, table: Table) -> &mut BTreeMap<String, Row> {
        self.state.entry(table).or_default()
    }

    fn live(&self, table: Table, external_id: &str) -> bool {
        self.state
            .get(&table)
            .and_then(|rows| rows.get(external_id))
            .is_some_and(|row| !row.deleted)
    }

    /// The active cell with this exact name, or why there is none.
    fn cell_named(&self, name: &str) -> Result<String, ErrorCode> {
        let named: Vec<&String> = self
            .state
            .get(&Table::Cells)
            .into_iter()
            .flatten()
            .filter(|(_, row)| row.fields["name"] == name && row.fields["active"] == true)
            .map(|(id, _)| id)
            .collect();
        match named.as_slice() {
            [id] => Ok((*id).clone()),
            [] => Err(ErrorCode::ReferenceNotFound),
            _ => Err(ErrorCode::AmbiguousReference),
        }
    }

    /// The cells of a part's operations, or the first one that does not resolve.
    fn cells_of(&self, part: &Value, path: &str) -> Result<(), Fate> {
        for (j, operation) in list(part, "operations").iter().enumerate() {
            self.cell_named(&text(operation, "cell_name"))
                .map_err(|code| Fate::Rejected(code, format!("{path}operations[{j}].cell_name")))?;
        }
        Ok(())
    }

    /// Absent keeps, null resets to the default, a value sets; a deleted row comes back.
    fn upsert(
        &mut self,
        table: Table,
        sent: &Value,
        parent: Option<String>,
        cell: Option<String>,
    ) -> Change {
        let id = text(sent, "external_id");
        let before = self.table(table).get(&id).cloned();
        let mut row = before.clone().unwrap_or_else(|| Row {
            fields: table
                .fields()
                .iter()
                .map(|f| (*f, table.default_of(f)))
                .collect(),
            parent: None,
            cell: None,
            deleted: false,
        });
        for field in table.fields() {
            match sent.get(*field) {
                None => {}
                Some(Value::Null) => {
                    row.fields.insert(field, table.default_of(field));
                }
                Some(value) => {
                    row.fields.insert(field, value.clone());
                }
            }
        }
        row.parent = parent;
        row.cell = cell;
        row.deleted = false;
        let change = match &before {
            None => Change::Created,
            Some(before) if before.deleted => Change::Created,
            Some(before) if *before != row => Change::Updated,
            Some(_) => Change::Unchanged,
        };
        self.table(table).insert(id, row);
        change
    }

    fn write_part(&mut self, part: &Value, job: &str) -> Tree {
        let id = text(part, "external_id");
        let change = self.upsert(Table::Parts, part, Some(job.to_owned()), None);
        let mut tree = Tree::leaf(&id, change);
        for operation in list(part, "operations") {
            let cell = self.cell_named(&text(&operation, "cell_name")).ok();
            let change = self.upsert(Table::Operations, &operation, Some(id.clone()), cell);
            tree.children
                .push(Tree::leaf(&text(&operation, "external_id"), change));
        }
        tree
    }

    /// Deletes the live rows of `table` under `parent` not in `keep`, answering them by id.
    fn retire(&mut self, table: Table, parent: &str, keep: &BTreeSet<String>) -> Vec<String> {
        let mut retired = Vec::new();
        for (id, row) in self.table(table).iter_mut() {
            if !row.deleted && row.parent.as_deref() == Some(parent) && !keep.contains(id) {
                row.deleted = true;
                retired.push(id.clone());
            }
        }
        retired
    }

    /// What a write made outside the syncs leaves: an edited field, or a job deleted with the
    /// live parts under it and the live operations of every part under it.
    fn outside(&mut self, write: &Outside) {
        match write {
            Outside::Edit { job, number } => {
                if let Some(row) = self.table(Table::Jobs).get_mut(job) {
                    row.fields.insert("job_number", json!(number));
                }
            }
            Outside::Delete { job } => {
                if !self.live(Table::Jobs, job) {
                    return;
                }
                self.table(Table::Jobs).get_mut(job).unwrap().deleted = true;
                let mut parts = BTreeSet::new();
                for (id, row) in self.table(Table::Parts).iter_mut() {
                    if row.parent.as_deref() == Some(job.as_str()) {
                        parts.insert(id.clone());
                        row.deleted = true;
                    }
                }
                for row in self.table(Table::Operations).values_mut() {
                    if row.parent.as_ref().is_some_and(|p| parts.contains(p)) {
                        row.deleted = true;
                    }
                }
            }
        }
    }

    /// A job, its parts and their operations.
    fn write_job(&mut self, job: &Value) -> Tree {
        let id = text(job, "external_id");
        let change = self.upsert(Table::Jobs, job, None, None);
        let mut tree = Tree::leaf(&id, change);
        for part in list(job, "parts") {
            tree.children.push(self.write_part(&part, &id));
        }
        tree
    }

    /// Replace mode: deletes the job's stored parts it leaves out, with their operations, and
    /// the stored operations of its parts it leaves out, listing them in the job's answer.
    fn replace(&mut self, job: &Value, tree: &mut Tree) {
        let ids = |items: &[Value]| -> BTreeSet<String> {
            items.iter().map(|i| text(i, "external_id")).collect()
        };
        let parts = list(job, "parts");
        for (part, sent) in tree.children.iter_mut().zip(&parts) {
            let keep = ids(&list(sent, "operations"));
            for operation in self.retire(Table::Operations, &part.external_id, &keep) {
                part.children.push(Tree::leaf(&operation, Change::Deleted));
            }
        }
        for part in self.retire(Table::Parts, &tree.external_id, &ids(&parts)) {
            let mut deleted = Tree::leaf(&part, Change::Deleted);
            for operation in self.retire(Table::Operations, &part, &BTreeSet::new()) {
                deleted
                    .children
                    .push(Tree::leaf(&operation, Change::Deleted));
            }
            tree.children.push(deleted);
        }
    }

    /// One accepted record's write, or the reference that does not resolve.
    fn write(&mut self, step: &Step, sent: &Value) -> Fate {
        let tree = match step.table {
            Table::Cells => Tree::leaf(
                &text(sent, "external_id"),
                self.upsert(Table::Cells, sent, None, None),
            ),
            Table::Jobs => {
                for (i, part) in list(sent, "parts").iter().enumerate() {
                    if let Err(fate) = self.cells_of(part, &format!("parts[{i}].")) {
                        return fate;
                    }
                }
                self.write_job(sent)
            }
            Table::Parts => {
                let job = text(sent, "job_external_id");
                if !self.live(Table::Jobs, &job) {
                    return Fate::Rejected(ErrorCode::ReferenceNotFound, "job_external_id".into());
                }
                if let Err(fate) = self.cells_of(sent, "") {
                    return fate;
                }
                self.write_part(sent, &job)
            }
            Table::Operations => {
                let part = text(sent, "part_external_id");
                if !self.live(Table::Parts, &part) {
                    return Fate::Rejected(ErrorCode::ReferenceNotFound, "part_external_id".into());
                }
                let cell = match self.cell_named(&text(sent, "cell_name")) {
                    Ok(cell) => cell,
                    Err(code) => return Fate::Rejected(code, "cell_name".into()),
                };
                let change = self.upsert(Table::Operations, sent, Some(part), Some(cell));
                Tree::leaf(&text(sent, "external_id"), change)
            }
        };
        Fate::Synced(tree)
    }

    /// A request's answer, record by record in input order, and its effect on the state.
    ///
    /// Records are written in input order. Deletions of replace mode come after all of the
    /// request's writes: a replacing job deletes the children that are still its own once every
    /// record is written, so a child that a later record of the same request takes along is
    /// moved, not deleted and restored (see `a_replace_deletes_after_the_requests_writes`).
    fn sync(&mut self, step: &Step) -> Vec<Fate> {
        let mut claimed = BTreeSet::new();
        let mut fates: Vec<Fate> = step
            .records
            .iter()
            .map(|sent| {
                if let Some(field) = &sent.invalid {
                    return Fate::Rejected(ErrorCode::ValidationError, field.clone());
                }
                let mut mine = BTreeSet::new();
                for (key, field) in keys_of(step.table, &sent.json) {
                    if claimed.contains(&key) || !mine.insert(key) {
                        return Fate::Rejected(ErrorCode::ValidationError, field);
                    }
                }
                claimed.extend(mine);
                self.write(step, &sent.json)
            })
            .collect();
        for (sent, fate) in step.records.iter().zip(&mut fates) {
            if let Fate::Synced(tree) = fate {
                if step.table == Table::Jobs && replaces(step, &sent.json) {
                    self.replace(&sent.json, tree);
                }
                *tree = tree.clone().rolled_up();
            }
        }
        fates
    }

    /// Every child a replacing job of the request may delete: its stored parts and their
    /// operations, and the stored operations of the parts it lists.
    fn doomed_by(&self, job: &Value) -> BTreeSet<(Table, String)> {
        let job_id = text(job, "external_id");
        let empty = BTreeMap::new();
        let rows = |table| self.state.get(&table).unwrap_or(&empty);
        let mut parts: BTreeSet<String> = list(job, "parts")
            .iter()
            .map(|p| text(p, "external_id"))
            .collect();
        for (id, part) in rows(Table::Parts) {
            if part.parent.as_deref() == Some(job_id.as_str()) {
                parts.insert(id.clone());
            }
        }
        let operations = rows(Table::Operations)
            .iter()
            .filter(|(_, o)| o.parent.as_ref().is_some_and(|p| parts.contains(p)))
            .map(|(id, _)| (Table::Operations, id.clone()));
        let mut doomed: BTreeSet<_> = operations.collect();
        doomed.extend(parts.into_iter().map(|id| (Table::Parts, id)));
        doomed
    }
}

/// Whether a job of this request replaces its children: its own `children`, else the request's.
fn replaces(step: &Step, job: &Value) -> bool {
    let mode = job.get("children").and_then(Value::as_str);
    mode.or(step.children) == Some("replace")
}

/// Every record a request's record writes, with the field that names it, in document order.
fn keys_of(table: Table, json: &Value) -> Vec<((Table, String), String)> {
    let mut keys = vec![((table, text(json, "external_id")), "external_id".to_owned())];
    let operations = |part: &Value, path: &str, keys: &mut Vec<_>| {
        for (j, operation) in list(part, "operations").iter().enumerate() {
            keys.push((
                (Table::Operations, text(operation, "external_id")),
                format!("{path}operations[{j}].external_id"),
            ));
        }
    };
    match table {
        Table::Jobs => {
            for (i, part) in list(json, "parts").iter().enumerate() {
                let path = format!("parts[{i}].");
                keys.push((
                    (Table::Parts, text(part, "external_id")),
                    format!("{path}external_id"),
                ));
                operations(part, &path, &mut keys);
            }
        }
        Table::Parts => operations(json, "", &mut keys),
        Table::Cells | Table::Operations => {}
    }
    keys
}

// ---------------------------------------------------------------------------------------------
// The real store

/// A record's fate as the server reports it, children in the model's order.
fn fate(result: &RecordResult) -> Fate {
    fn tree(synced: &Synced) -> Tree {
        let (mut children, mut deleted): (Vec<Tree>, Vec<Tree>) = synced
            .parts
            .iter()
            .chain(&synced.operations)
            .map(tree)
            .partition(|c| c.change != Change::Deleted);
        deleted.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        children.extend(deleted);
        Tree {
            external_id: synced.external_id.clone(),
            change: synced.change,
            children,
        }
    }
    match &result.outcome {
        Ok(synced) => Fate::Synced(tree(synced)),
        Err(error) => Fate::Rejected(error.code, error.field.clone().unwrap_or_default()),
    }
}

fn indexes(batch: &SyncBatch) -> Vec<usize> {
    match batch {
        SyncBatch::Jobs(items) => items.iter().map(|i| i.index).collect(),
        SyncBatch::Parts(items) => items.iter().map(|i| i.index).collect(),
        SyncBatch::Operations(items) => items.iter().map(|i| i.index).collect(),
        SyncBatch::Cells(items) | SyncBatch::Resources(items) => {
            items.iter().map(|i| i.index).collect()
        }
    }
}

fn prepare<P: Payload>(records: &[Value]) -> eryxon::domain::batch::Prepared {
    let mut body = Map::new();
    body.insert(P::ENTITY.plural().into(), Value::Array(records.to_vec()));
    let body = serde_json::to_vec(&body).unwrap();
    prepare_bulk(decode::<BulkBody<P>>(&body).unwrap()).unwrap()
}

fn prepare_single<P: Payload>(record: &Value) -> Result<SyncBatch, RecordError> {
    let body = serde_json::to_vec(record).unwrap();
    prepare_one(decode::<P>(&body).map_err(RecordError::invalid)?)
}

fn children_mode(mode: Option<&str>) -> Option<Children> {
    mode.map(|m| serde_json::from_value(json!(m)).unwrap())
}

/// Every record of a tenant as the list endpoint shows it, deleted ones included.
type Snapshot = BTreeMap<Table, Vec<Value>>;

struct Harness {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    engine: Engine,
    url: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// One database for a whole property.
    fn open(engine: Engine) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let (store, url) = runtime.block_on(async {
            let url = match engine {
                Engine::Sqlite => format!("sqlite://{}", dir.path().join("p.db").display()),
                Engine::Postgres => fresh_postgres_database().await,
            };
            (store::open(&url).await.unwrap(), url)
        });
        Harness {
            runtime,
            store,
            engine,
            url,
            _dir: dir,
        }
    }

    /// A fresh tenant, so every case starts from an empty store.
    fn scope(&self) -> Scope {
        self.runtime.block_on(async {
            let tenant = format!("t{}", uuid::Uuid::now_v7().simple());
            let key = IssuedKey::generate(Mode::Live);
            let slug = TenantSlug::parse(&tenant).unwrap();
            self.store.create_api_key(&slug, None, &key).await.unwrap();
            let stored = self.store.find_api_key(&key.lookup).await.unwrap().unwrap();
            Scope {
                tenant_id: stored.tenant_id,
                mode: Mode::Live,
            }
        })
    }

    fn write(&self, scope: Scope, batch: SyncBatch) -> Vec<RecordResult> {
        self.runtime
            .block_on(self.store.sync(scope, batch, Finish::Commit))
            .unwrap()
    }

    /// A bulk sync as the server runs it, checking that the answer has one result per record,
    /// in input order, naming its record, and that its counts are those of the records sent
    /// and of their results.
    fn bulk(&self, scope: Scope, step: &Step) -> Result<Vec<RecordResult>, TestCaseError> {
        let records: Vec<Value> = step.records.iter().map(|s| s.json.clone()).collect();
        let prepared = match step.table {
            Table::Cells => prepare::<CellPayload>(&records),
            Table::Jobs => prepare::<JobPayload>(&records),
            Table::Parts => prepare::<PartPayload>(&records),
            Table::Operations => prepare::<OperationPayload>(&records),
        };
        let mut batch = prepared.batch;
        if let Some(mode) = children_mode(step.children) {
            batch = batch.with_default_children(mode);
        }
        let written = indexes(&batch);
        let mut results = self.write(scope, batch);
        let answered: Vec<usize> = results.iter().map(|r| r.index).collect();
        prop_assert_eq!(answered, written, "the store answers in the batch's order");

        results.extend(prepared.rejected);
        results.sort_by_key(|r| r.index);
        prop_assert_eq!(results.len(), records.len());
        for (i, (result, record)) in results.iter().zip(&records).enumerate() {
            prop_assert_eq!(result.index, i);
            prop_assert_eq!(
                result.external_id.as_deref(),
                record["external_id"].as_str()
            );
        }
        let counts = Counts::of(&results);
        let tally = |change: Option<Change>| {
            results
                .iter()
                .filter(|r| r.outcome.as_ref().ok().map(|s| s.change) == change)
                .count()
        };
        let (created, unchanged, errors) = (
            tally(Some(Change::Created)),
            tally(Some(Change::Unchanged)),
            tally(None),
        );
        // A top-level record is never deleted; one that lost children counts as updated.
        let updated = tally(Some(Change::Updated)) + unchanged;
        prop_assert_eq!(tally(Some(Change::Deleted)), 0);
        prop_assert_eq!(
            (
                counts.total,
                counts.created,
                counts.updated,
                counts.unchanged,
                counts.errors
            ),
            (records.len(), created, updated, unchanged, errors),
            "counts: records sent, then results created, updated, unchanged, refused"
        );
        prop_assert_eq!(created + updated + errors, records.len());
        Ok(results)
    }

    /// One record through the single-sync path.
    fn single(&self, scope: Scope, step: &Step, record: &Value) -> RecordResult {
        let prepared = match step.table {
            Table::Cells => prepare_single::<CellPayload>(record),
            Table::Jobs => prepare_single::<JobPayload>(record),
            Table::Parts => prepare_single::<PartPayload>(record),
            Table::Operations => prepare_single::<OperationPayload>(record),
        };
        match prepared {
            Ok(mut batch) => {
                if let Some(mode) = children_mode(step.children) {
                    batch = batch.with_default_children(mode);
                }
                let mut results = self.write(scope, batch);
                assert_eq!(results.len(), 1);
                results.pop().unwrap()
            }
            Err(error) => RecordResult {
                index: 0,
                external_id: None,
                outcome: Err(error),
            },
        }
    }

    /// A write the server does not make: another program's edit of the database, or a delete
    /// through the API.
    fn outside(&self, scope: Scope, write: &Outside) {
        use sqlx::Connection;
        self.runtime.block_on(async {
            match write {
                Outside::Edit { job, number } => {
                    let sql = format!(
                        "UPDATE jobs SET job_number = '{number}' \
                         WHERE tenant_id = '{}' AND external_id = '{job}'",
                        scope.tenant_id
                    );
                    match self.engine {
                        Engine::Sqlite => {
                            let mut db = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                            sqlx::query(&sql).execute(&mut db).await.unwrap();
                        }
                        Engine::Postgres => {
                            let mut db = sqlx::PgConnection::connect(&self.url).await.unwrap();
                            sqlx::query(&sql).execute(&mut db).await.unwrap();
                        }
                    }
                }
                Outside::Delete { job } => {
                    let target = RecordRef::External {
                        source: SOURCE.to_owned(),
                        external_id: job.clone(),
                    };
                    self.store
                        .delete(scope, Entity::Jobs, &target)
                        .await
                        .unwrap();
                }
            }
        });
    }

    fn snapshot(&self, scope: Scope) -> Snapshot {
        let query = ListQuery {
            limit: 1000,
            include_deleted: true,
            ..ListQuery::default()
        };
        [Table::Cells, Table::Jobs, Table::Parts, Table::Operations]
            .into_iter()
            .map(|table| {
                let page = self
                    .runtime
                    .block_on(self.store.list(scope, table.entity(), &query))
                    .unwrap();
                let rows = page
                    .records
                    .iter()
                    .map(|raw| serde_json::from_str(raw.get()).unwrap())
                    .collect();
                (table, rows)
            })
            .collect()
    }

    /// The stored state in the model's terms.
    fn state(&self, scope: Scope) -> State {
        let snapshot = self.snapshot(scope);
        let cells: BTreeMap<String, String> = snapshot[&Table::Cells]
            .iter()
            .map(|c| (text(c, "id"), text(c, "external_id")))
            .collect();
        snapshot
            .into_iter()
            .map(|(table, records)| {
                let rows = records
                    .iter()
                    .map(|r| {
                        assert_eq!(r["external_source"], SOURCE);
                        let parent = match table {
                            Table::Parts => Some(text(r, "job_external_id")),
                            Table::Operations => Some(text(r, "part_external_id")),
                            Table::Cells | Table::Jobs => None,
                        };
                        let row = Row {
                            fields: table.fields().iter().map(|f| (*f, r[*f].clone())).collect(),
                            parent,
                            cell: r
                                .get("cell_id")
                                .map(|id| cells[id.as_str().unwrap()].clone()),
                            deleted: !r["deleted_at"].is_null(),
                        };
                        (text(r, "external_id"), row)
                    })
                    .collect();
                (table, rows)
            })
            .collect()
    }
}

/// Stored state equals the model's, record by record and field by field.
fn same_state(stored: &State, model: &State) -> Result<(), TestCaseError> {
    let empty = BTreeMap::new();
    for table in [Table::Cells, Table::Jobs, Table::Parts, Table::Operations] {
        let (stored, model) = (
            stored.get(&table).unwrap_or(&empty),
            model.get(&table).unwrap_or(&empty),
        );
        let ids: BTreeSet<&String> = stored.keys().chain(model.keys()).collect();
        for id in ids {
            prop_assert_eq!(stored.get(id), model.get(id), "{:?} {}", table, id);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The properties

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(128);
    Config {
        cases,
        // A failure shrinks for at most about a minute.
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs a property on one engine's store, failing with the shrunk case.
fn check<S: Strategy>(
    engine: Engine,
    strategy: S,
    property: impl Fn(&Harness, S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: fmt::Debug,
{
    let harness = Harness::open(engine);
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config());
    if let Err(error) = runner.run(&strategy, |case| property(&harness, case)) {
        panic!("{engine:?}: {error}");
    }
    eprintln!("{engine:?}: {:.1?}", started.elapsed());
}

/// Syncs step `n`, checking each answer against the model's and the stored state against the
/// model's after it.
fn follows_the_model(
    harness: &Harness,
    scope: Scope,
    model: &mut Model,
    n: usize,
    step: &Step,
) -> Result<(), TestCaseError> {
    let answers = harness.bulk(scope, step)?;
    let expected = model.sync(step);
    for (i, (answer, expected)) in answers.iter().zip(&expected).enumerate() {
        prop_assert_eq!(&fate(answer), expected, "step {} record {}", n, i);
    }
    same_state(&harness.state(scope), &model.state)
}

/// Each answer is the model's, and after each sync the store holds the model's state: every
/// field the last accepted writer's (absent keeps, null resets), parts under the job that last
/// sent them, operations under their part and in the cell their name resolved to, replaced
/// children deleted.
fn syncs_follow_the_model(engine: Engine) {
    check(engine, steps(), |harness, steps| {
        let scope = harness.scope();
        let mut model = Model::default();
        for (n, step) in steps.iter().enumerate() {
            follows_the_model(harness, scope, &mut model, n, step)?;
        }
        Ok(())
    });
}

/// Writes the server does not make between syncs — another program editing a job in the
/// database, a job deleted through the API — are seen by the syncs after them: each answer is
/// still the model's and the store holds the model's state (an edited field a sync sends is
/// put back, a deleted job sent again comes back), whatever the server remembered of the rows
/// it wrote before.
fn outside_writes_are_seen_by_later_syncs(engine: Engine) {
    let case = (
        steps(),
        proptest::collection::vec((0..8usize, outside()), 1..=4),
    );
    check(engine, case, |harness, (steps, outside)| {
        let scope = harness.scope();
        let mut model = Model::default();
        for (n, step) in steps.iter().enumerate() {
            for (_, write) in outside.iter().filter(|(at, _)| *at == n) {
                harness.outside(scope, write);
                model.outside(write);
            }
            follows_the_model(harness, scope, &mut model, n, step)?;
        }
        Ok(())
    });
}

/// Sending the last request again writes nothing (every stored byte stays, timestamps
/// included), answers every accepted record and all its children unchanged, and refuses the
/// refused ones the same way.
fn a_resend_changes_nothing(engine: Engine) {
    check(engine, steps(), |harness, steps| {
        let scope = harness.scope();
        let mut first = Vec::new();
        for step in &steps {
            first = harness.bulk(scope, step)?;
        }
        let before = harness.snapshot(scope);
        let again = harness.bulk(scope, steps.last().unwrap())?;
        for (first, again) in first.iter().zip(&again) {
            match (&first.outcome, &again.outcome) {
                (Ok(_), Ok(_)) => match fate(again) {
                    Fate::Synced(tree) => prop_assert!(tree.all_unchanged(), "{:?}", tree),
                    Fate::Rejected(..) => unreachable!(),
                },
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "{:?} then {:?}", a, b),
            }
        }
        prop_assert_eq!(harness.snapshot(scope), before);
        Ok(())
    });
}

/// A bulk request answers each record as a single sync of it would, sent one by one in the
/// same order, and leaves the same stored state.
///
/// Two kinds of record are left out of the request. One repeating an earlier record's key: a
/// bulk request refuses the repeat by design. One naming a child that an earlier job of the
/// request may delete in replace mode: in one request the deletion comes after every write, so
/// the child is moved, where one by one it would be deleted, then restored.
fn bulk_equals_single_syncs(engine: Engine) {
    check(engine, steps(), |harness, mut steps| {
        let mut last = steps.pop().unwrap();
        let mut model = Model::default();
        for step in &steps {
            model.sync(step);
        }
        let (mut claimed, mut doomed) = (BTreeSet::new(), BTreeSet::new());
        let request = Step {
            records: Vec::new(),
            ..last.clone()
        };
        last.records.retain(|sent| {
            let keys: BTreeSet<_> = keys_of(request.table, &sent.json)
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            let kept = keys.is_disjoint(&claimed) && keys.is_disjoint(&doomed);
            claimed.extend(keys);
            if request.table == Table::Jobs && replaces(&request, &sent.json) {
                doomed.extend(model.doomed_by(&sent.json));
            }
            kept
        });
        let (bulk, single) = (harness.scope(), harness.scope());
        for scope in [bulk, single] {
            for step in &steps {
                harness.bulk(scope, step)?;
            }
        }
        let in_bulk = harness.bulk(bulk, &last)?;
        for (sent, in_bulk) in last.records.iter().zip(&in_bulk) {
            let alone = harness.single(single, &last, &sent.json);
            prop_assert_eq!(fate(&alone), fate(in_bulk), "{}", sent.json);
            if let (Err(alone), Err(in_bulk)) = (&alone.outcome, &in_bulk.outcome) {
                prop_assert_eq!(&alone.message, &in_bulk.message);
            }
        }
        same_state(&harness.state(bulk), &harness.state(single))
    });
}

/// Any sequence of requests of any entity: one result per record, in input order, each naming
/// its record, and counts that are those of the records sent and of their results (checked
/// inside every bulk sync).
fn answers_keep_input_order_and_add_up(engine: Engine) {
    check(engine, steps(), |harness, steps| {
        let scope = harness.scope();
        for step in &steps {
            harness.bulk(scope, step)?;
        }
        Ok(())
    });
}

/// The case `bulk_equals_single_syncs` leaves out, as it first shrank: a job replacing its
/// children leaves out part P3 (with operation O4), and a later job of the same request lists O4
/// under its own part. In one request O4 moves and only P3 is deleted; sent one by one, the
/// first sync deletes P3 with O4 and the second restores O4.
fn a_replace_deletes_after_the_requests_writes(engine: Engine) {
    let harness = Harness::open(engine);
    let step = |children, records: Vec<Value>| Step {
        table: Table::Jobs,
        children,
        records: records
            .into_iter()
            .map(|json| Sent {
                json,
                invalid: None,
            })
            .collect(),
    };
    let cells = Step {
        table: Table::Cells,
        ..step(
            None,
            vec![json!({"external_id": "C1", "external_source": SOURCE, "name": "Cut"})],
        )
    };
    let operation = json!({"external_id": "O4", "operation_name": "Saw", "cell_name": "Cut"});
    let before = step(
        None,
        vec![
            json!({"external_id": "J2", "external_source": SOURCE, "job_number": "1",
                   "parts": [{"external_id": "P3", "part_number": "A", "operations": [operation]}]}),
            json!({"external_id": "J1", "external_source": SOURCE, "job_number": "1"}),
        ],
    );
    let request = step(
        None,
        vec![
            json!({"external_id": "J2", "external_source": SOURCE, "job_number": "1",
                   "children": "replace"}),
            json!({"external_id": "J1", "external_source": SOURCE, "job_number": "1",
                   "parts": [{"external_id": "P1", "part_number": "A", "operations": [operation]}]}),
        ],
    );
    let tree = |id: &str, change, children| Tree {
        external_id: id.into(),
        change,
        children,
    };
    let leaf = |id: &str, change| Tree::leaf(id, change);
    let (bulk, single) = (harness.scope(), harness.scope());
    for scope in [bulk, single] {
        harness.bulk(scope, &cells).unwrap();
        harness.bulk(scope, &before).unwrap();
    }

    let in_bulk: Vec<Fate> = harness
        .bulk(bulk, &request)
        .unwrap()
        .iter()
        .map(fate)
        .collect();
    let moved = tree(
        "J1",
        Change::Updated,
        vec![tree(
            "P1",
            Change::Created,
            vec![leaf("O4", Change::Updated)],
        )],
    );
    assert_eq!(
        in_bulk,
        [
            Fate::Synced(tree(
                "J2",
                Change::Updated,
                vec![leaf("P3", Change::Deleted)]
            )),
            Fate::Synced(moved),
        ]
    );
    let mut model = Model::default();
    for step in [&cells, &before, &request] {
        model.sync(step);
    }
    same_state(&harness.state(bulk), &model.state).unwrap();

    let one_by_one: Vec<Fate> = request
        .records
        .iter()
        .map(|sent| fate(&harness.single(single, &request, &sent.json)))
        .collect();
    let restored = tree(
        "J1",
        Change::Updated,
        vec![tree(
            "P1",
            Change::Created,
            vec![leaf("O4", Change::Created)],
        )],
    );
    assert_eq!(
        one_by_one,
        [
            Fate::Synced(tree(
                "J2",
                Change::Updated,
                vec![tree(
                    "P3",
                    Change::Deleted,
                    vec![leaf("O4", Change::Deleted)]
                )]
            )),
            Fate::Synced(restored),
        ]
    );
    // Either way P3 ends deleted and O4 live under P1.
    same_state(&harness.state(single), &model.state).unwrap();
}

on_every_engine!(
    blocking:
    syncs_follow_the_model,
    a_resend_changes_nothing,
    bulk_equals_single_syncs,
    answers_keep_input_order_and_add_up,
    a_replace_deletes_after_the_requests_writes,
    outside_writes_are_seen_by_later_syncs,
);
