//! Records: one description drives the HTTP bodies, the ceiling and the baseline, so all
//! three write exactly the same values.

use eryxon::domain::schema::{Column, Default, Kind};
use eryxon::domain::Entity;
use serde_json::{json, Map, Value};

use crate::{BATCH, SOURCE};

/// A column's SQL type, as the ceiling and the baseline cast their parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Text,
    Int,
    Real,
    Bool,
    Date,
    Json,
    Uuid,
    Time,
    BigInt,
}

impl Ty {
    /// The type of a declared column: references are ids.
    pub fn of(kind: Kind) -> Ty {
        match kind {
            Kind::Reference(_) => Ty::Uuid,
            Kind::Text => Ty::Text,
            Kind::Int => Ty::Int,
            Kind::Real => Ty::Real,
            Kind::Bool => Ty::Bool,
            Kind::Date => Ty::Date,
            Kind::Time => unreachable!("synced columns hold no floor times"),
            Kind::Json => Ty::Json,
        }
    }

    pub fn pg(self) -> &'static str {
        match self {
            Ty::Text => "text",
            Ty::Int => "integer",
            Ty::Real => "double precision",
            Ty::Bool => "boolean",
            Ty::Date => "date",
            Ty::Json => "jsonb",
            Ty::Uuid => "uuid",
            Ty::Time => "timestamptz",
            Ty::BigInt => "bigint",
        }
    }
}

// What the bench writes of each entity is its declaration in `eryxon::domain`
// (`Entity::columns()`, with each own column's document entry in `Entity::fields()`): a
// column added there is sent, written by the ceiling and compared by the baseline without a
// change here.

/// The entity's own columns (all but references), in column order: the values of a `Row`.
pub fn own(entity: Entity) -> impl Iterator<Item = &'static Column> {
    entity
        .columns()
        .iter()
        .filter(|c| !matches!(c.kind, Kind::Reference(_)))
}

/// The entity's references, in column order: the foreign-key column and the parent entity.
pub fn references(entity: Entity) -> impl Iterator<Item = (&'static str, Entity)> {
    entity.columns().iter().filter_map(|c| match c.kind {
        Kind::Reference(parent) => Some((c.name, parent)),
        _ => None,
    })
}

/// The field a record names a parent by: a cell by its name, any other parent by its
/// external id.
pub fn naming_field(parent: Entity) -> String {
    match parent {
        Entity::Cells => "cell_name".into(),
        other => format!("{}_external_id", other.singular()),
    }
}

/// One value as the bench sends and writes it.
#[derive(Debug, Clone)]
pub enum V {
    T(String),
    I(i64),
    R(f64),
    B(bool),
    /// A JSON object, as its text.
    J(String),
}

impl V {
    fn fits(&self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (V::T(_), Kind::Text | Kind::Date)
                | (V::I(_), Kind::Int)
                | (V::R(_), Kind::Real)
                | (V::B(_), Kind::Bool)
                | (V::J(_), Kind::Json)
        )
    }

    fn json(&self) -> Value {
        match self {
            V::T(text) => Value::from(text.as_str()),
            V::I(int) => Value::from(*int),
            V::R(real) => Value::from(*real),
            V::B(flag) => Value::from(*flag),
            V::J(text) => serde_json::from_str(text).expect("bench metadata is JSON"),
        }
    }
}

/// A value for a column the bench gives none of its own: the first (or the `n`-th) a client
/// may send, read from the column's schema in the API document.
fn declared_value(entity: Entity, column: &Column, n: usize) -> V {
    let field = entity
        .fields()
        .iter()
        .find(|f| f.name == column.name)
        .expect("every own column has its document entry");
    let schema = serde_json::to_value((field.value)()).expect("a schema serializes");
    let bound = |key: &str| schema[key].as_f64();
    if let Some(names) = schema["enum"].as_array() {
        return V::T(names[n % names.len()].as_str().expect("a text enum").into());
    }
    match column.kind {
        Kind::Text if schema["format"] == "date" => V::T(date(n)),
        Kind::Text => match schema["examples"].as_array() {
            Some(examples) => V::T(examples[n % examples.len()].as_str().expect("text").into()),
            None if schema.get("pattern").is_none_or(|p| p == "\\S") => {
                V::T(format!("{} {n}", column.name))
            }
            None => panic!("no value for {}.{}: {schema}", entity.plural(), column.name),
        },
        Kind::Int => {
            let (min, max) = (
                bound("minimum").unwrap_or(0.0),
                bound("maximum").unwrap_or(1e9),
            );
            V::I((min + (n as f64 % (max - min + 1.0).min(100.0))) as i64)
        }
        Kind::Real => {
            let (min, max) = (
                bound("minimum").unwrap_or(0.0),
                bound("maximum").unwrap_or(1e9),
            );
            V::R(min + (n as f64 + 0.5) % (max - min))
        }
        Kind::Bool => V::B(match column.default {
            Some(Default::Bool(flag)) => flag,
            _ => true,
        }),
        Kind::Date => V::T(date(n)),
        Kind::Time => unreachable!("synced columns hold no floor times"),
        Kind::Json => V::J(format!(r#"{{"n":{n}}}"#)),
        Kind::Reference(_) => unreachable!("references are no own values"),
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub entity: Entity,
    pub ext: String,
    /// What names each reference: the parent's external id, the cell's name.
    pub refs: Vec<String>,
    /// One per own column, in column order.
    pub values: Vec<V>,
}

impl Row {
    /// A row of `entity` with `given` values by column name and declared ones for the others.
    /// A given value must name an own column and fit its kind.
    fn new(entity: Entity, ext: String, refs: Vec<String>, n: usize, given: Vec<(&str, V)>) -> Row {
        assert_eq!(
            refs.len(),
            references(entity).count(),
            "{entity:?} references"
        );
        for (name, value) in &given {
            let column = own(entity).find(|c| c.name == *name);
            assert!(
                column.is_some_and(|c| value.fits(c.kind)),
                "{name} = {value:?} is no own column of {entity:?} of that kind"
            );
        }
        let mut given: Vec<Option<(&str, V)>> = given.into_iter().map(Some).collect();
        let values = own(entity)
            .map(|column| {
                let slot = given
                    .iter_mut()
                    .find(|g| g.as_ref().is_some_and(|(name, _)| *name == column.name));
                match slot.and_then(Option::take) {
                    Some((_, value)) => value,
                    None => declared_value(entity, column, n),
                }
            })
            .collect();
        Row {
            entity,
            ext,
            refs,
            values,
        }
    }

    /// A hash of what the row sends, written where the server writes its sync fingerprint, so
    /// that the ceiling and the baseline store the very rows the server stores. Hashed with
    /// XXH3, the server's hash, so that it costs what the server's does.
    pub fn fingerprint(&self) -> i64 {
        let mut bytes = Vec::with_capacity(256);
        for value in &self.values {
            match value {
                V::T(text) | V::J(text) => bytes.extend_from_slice(text.as_bytes()),
                V::I(int) => bytes.extend_from_slice(&int.to_le_bytes()),
                V::R(real) => bytes.extend_from_slice(&real.to_le_bytes()),
                V::B(flag) => bytes.push(u8::from(*flag)),
            }
            bytes.push(0);
        }
        xxhash_rust::xxh3::xxh3_64(&bytes) as i64
    }
}

/// A job with its parts and each part's operations.
pub struct Nested {
    pub job: Row,
    pub parts: Vec<(Row, Vec<Row>)>,
}

pub const STATUSES: [&str; 4] = ["not_started", "in_progress", "completed", "on_hold"];
pub const MATERIALS: [&str; 5] = ["S235", "S355", "AlMg3", "1.4301", "PA6"];
pub const OPERATION_NAMES: [&str; 6] = ["Laser Cut", "Deburr", "Bend", "Weld", "Paint", "Inspect"];

pub fn date(n: usize) -> String {
    format!("2025-{:02}-{:02}", 1 + n % 12, 1 + (n / 12) % 28)
}

/// Job `i` as revision `rev` of the ERP sends it: every revision changes every record.
pub fn job(prefix: &str, i: usize, rev: usize) -> Row {
    let n = i + rev;
    let given = vec![
        ("job_number", V::T(format!("JOB-{prefix}-{i}"))),
        ("customer", V::T(format!("Customer {}", n % 97))),
        ("due_date", V::T(date(n))),
        ("priority", V::I((n % 10) as i64)),
        ("status", V::T(STATUSES[n % 4].into())),
        (
            "notes",
            V::T(format!("ERP revision {rev} of order line {i}")),
        ),
        ("metadata", V::J(format!(r#"{{"line":{i},"rev":{rev}}}"#))),
    ];
    Row::new(Entity::Jobs, format!("{prefix}-{i:06}"), vec![], n, given)
}

pub fn part(job_ext: &str, i: usize, j: usize, rev: usize) -> Row {
    let n = i + j + rev;
    let given = vec![
        ("part_number", V::T(format!("PN-{}", (i * 7 + j) % 500))),
        ("material", V::T(MATERIALS[n % 5].into())),
        ("quantity", V::I(1 + (n % 50) as i64)),
        ("status", V::T(STATUSES[n % 4].into())),
        ("notes", V::T(format!("revision {rev}"))),
        (
            "metadata",
            V::J(format!(r#"{{"rev":{rev},"routing":{j}}}"#)),
        ),
    ];
    let ext = format!("{job_ext}-{}", (j + 1) * 10);
    Row::new(Entity::Parts, ext, vec![job_ext.to_owned()], n, given)
}

pub fn operation(part_ext: &str, i: usize, k: usize, rev: usize, cells: usize) -> Row {
    let n = i + k + rev;
    let given = vec![
        ("operation_name", V::T(OPERATION_NAMES[k % 6].into())),
        ("sequence", V::I(k as i64 + 1)),
        ("estimated_time_minutes", V::I(5 + (n % 120) as i64)),
        ("status", V::T(STATUSES[n % 4].into())),
        ("notes", V::T(format!("revision {rev}"))),
        ("metadata", V::J(format!(r#"{{"rev":{rev},"step":{k}}}"#))),
    ];
    let ext = format!("{part_ext}-{:03}", (k + 1) * 10);
    let refs = vec![part_ext.to_owned(), format!("Cell {}", (i + k) % cells)];
    Row::new(Entity::Operations, ext, refs, n, given)
}

pub fn flat_jobs(prefix: &str, rev: usize) -> Vec<Row> {
    (0..BATCH).map(|i| job(prefix, i, rev)).collect()
}

pub const MAIN_CELLS: usize = 10;

/// 1000 jobs × 2 parts × 3 operations: 9000 records.
pub fn nested_jobs(prefix: &str, rev: usize) -> Vec<Nested> {
    (0..BATCH)
        .map(|i| {
            let job = job(prefix, i, rev);
            let parts = (0..2)
                .map(|j| {
                    let part = part(&job.ext, i, j, rev);
                    let operations = (0..3)
                        .map(|k| operation(&part.ext, i, k, rev, MAIN_CELLS))
                        .collect();
                    (part, operations)
                })
                .collect();
            Nested { job, parts }
        })
        .collect()
}

/// Cell `i`; the fields not given here take declared values.
pub fn cell(i: usize) -> Row {
    let given = vec![
        ("name", V::T(format!("Cell {i}"))),
        ("color", V::T(format!("#{:06x}", (i * 0x3b82f6) & 0xffffff))),
        ("sequence", V::I(i as i64)),
        ("capacity_hours_per_day", V::R(8.0 + (i % 3) as f64 * 4.0)),
    ];
    Row::new(Entity::Cells, format!("WC-{i:03}"), vec![], i, given)
}

/// Resource `i`; the fields not given here take declared values.
pub fn resource(i: usize) -> Row {
    const TYPES: [&str; 5] = ["tooling", "fixture", "mold", "material", "equipment"];
    let given = vec![
        ("name", V::T(format!("{} {i}", TYPES[i % 5]))),
        ("type", V::T(TYPES[i % 5].into())),
        ("identifier", V::T(format!("ID-{i:05}"))),
        ("location", V::T(format!("Hall {}", i % 4))),
    ];
    Row::new(Entity::Resources, format!("RES-{i:05}"), vec![], i, given)
}

/// A record as the API takes it; `top` records carry the source and name their parent, nested
/// ones have it from where they sit. Cells are named wherever a record sits.
pub fn record_json(row: &Row, top: bool) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("external_id".into(), row.ext.clone().into());
    if top {
        object.insert("external_source".into(), SOURCE.into());
    }
    for ((_, parent), name) in references(row.entity).zip(&row.refs) {
        if top || parent == Entity::Cells {
            object.insert(naming_field(parent), name.clone().into());
        }
    }
    for (column, value) in own(row.entity).zip(&row.values) {
        object.insert(column.name.into(), value.json());
    }
    object
}

pub fn nested_json(nested: &Nested) -> Value {
    let mut job = record_json(&nested.job, true);
    let parts: Vec<Value> = nested
        .parts
        .iter()
        .map(|(part, operations)| {
            let mut part = record_json(part, false);
            let operations: Vec<Value> = operations
                .iter()
                .map(|o| Value::Object(record_json(o, false)))
                .collect();
            part.insert("operations".into(), operations.into());
            Value::Object(part)
        })
        .collect();
    job.insert("parts".into(), parts.into());
    Value::Object(job)
}

pub fn bulk_body(entity: &str, records: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ entity: records })).expect("JSON serializes")
}

pub fn flat_body(entity: Entity, rows: &[Row]) -> Vec<u8> {
    let records = rows
        .iter()
        .map(|r| Value::Object(record_json(r, true)))
        .collect();
    bulk_body(entity.plural(), records)
}

pub fn nested_body(jobs: &[Nested]) -> Vec<u8> {
    bulk_body("jobs", jobs.iter().map(nested_json).collect())
}

/// The nested jobs as three flat levels, children pointing at their parent's external id.
pub fn levels(jobs: &[Nested]) -> (Vec<Row>, Vec<Row>, Vec<Row>) {
    let mut parts = Vec::new();
    let mut operations = Vec::new();
    for nested in jobs {
        for (part, ops) in &nested.parts {
            parts.push(part.clone());
            operations.extend(ops.iter().cloned());
        }
    }
    (
        jobs.iter().map(|n| n.job.clone()).collect(),
        parts,
        operations,
    )
}
