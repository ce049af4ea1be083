//! Records: one description drives the HTTP bodies, the ceiling and the baseline, so all
//! three write exactly the same values.

use serde_json::{json, Map, Value};

use crate::{BATCH, SOURCE};

#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Text,
    Int,
    Date,
    Json,
    Uuid,
    Time,
    BigInt,
}

impl Ty {
    pub fn pg(self) -> &'static str {
        match self {
            Ty::Text => "text",
            Ty::Int => "integer",
            Ty::Date => "date",
            Ty::Json => "jsonb",
            Ty::Uuid => "uuid",
            Ty::Time => "timestamptz",
            Ty::BigInt => "bigint",
        }
    }
}

/// A table as the bench writes it: own columns, and how its references resolve.
pub struct Spec {
    pub table: &'static str,
    /// The bulk body's key and the path's entity.
    pub entity: &'static str,
    pub columns: &'static [(&'static str, Ty)],
    /// Parent table, foreign-key column, and the field naming the parent on a flat endpoint.
    pub parent: Option<(&'static str, &'static str, &'static str)>,
    /// Operations name their cell.
    pub cell: bool,
}

pub const JOBS: Spec = Spec {
    table: "jobs",
    entity: "jobs",
    columns: &[
        ("job_number", Ty::Text),
        ("customer", Ty::Text),
        ("due_date", Ty::Date),
        ("priority", Ty::Int),
        ("status", Ty::Text),
        ("notes", Ty::Text),
        ("metadata", Ty::Json),
    ],
    parent: None,
    cell: false,
};

pub const PARTS: Spec = Spec {
    table: "parts",
    entity: "parts",
    columns: &[
        ("part_number", Ty::Text),
        ("material", Ty::Text),
        ("quantity", Ty::Int),
        ("status", Ty::Text),
        ("notes", Ty::Text),
        ("metadata", Ty::Json),
    ],
    parent: Some(("jobs", "job_id", "job_external_id")),
    cell: false,
};

pub const OPERATIONS: Spec = Spec {
    table: "operations",
    entity: "operations",
    columns: &[
        ("operation_name", Ty::Text),
        ("sequence", Ty::Int),
        ("estimated_time_minutes", Ty::Int),
        ("status", Ty::Text),
        ("notes", Ty::Text),
        ("metadata", Ty::Json),
    ],
    parent: Some(("parts", "part_id", "part_external_id")),
    cell: true,
};

pub const CELLS: Spec = Spec {
    table: "cells",
    entity: "cells",
    columns: &[
        ("name", Ty::Text),
        ("color", Ty::Text),
        ("sequence", Ty::Int),
        ("capacity_hours_per_day", Ty::Int),
    ],
    parent: None,
    cell: false,
};

pub const RESOURCES: Spec = Spec {
    table: "resources",
    entity: "resources",
    columns: &[
        ("name", Ty::Text),
        ("type", Ty::Text),
        ("identifier", Ty::Text),
        ("location", Ty::Text),
    ],
    parent: None,
    cell: false,
};

#[derive(Debug, Clone)]
pub enum V {
    T(String),
    I(i64),
}

#[derive(Debug, Clone)]
pub struct Row {
    pub ext: String,
    pub parent_ext: Option<String>,
    pub cell: Option<String>,
    pub values: Vec<V>,
}

impl Row {
    /// A hash of what the row sends, written where the server writes its sync fingerprint, so
    /// that the ceiling and the baseline store the very rows the server stores. Hashed with
    /// XXH3, the server's hash, so that it costs what the server's does.
    pub fn fingerprint(&self) -> i64 {
        let mut bytes = Vec::with_capacity(256);
        for value in &self.values {
            match value {
                V::T(text) => bytes.extend_from_slice(text.as_bytes()),
                V::I(int) => bytes.extend_from_slice(&int.to_le_bytes()),
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
    Row {
        ext: format!("{prefix}-{i:06}"),
        parent_ext: None,
        cell: None,
        values: vec![
            V::T(format!("JOB-{prefix}-{i}")),
            V::T(format!("Customer {}", n % 97)),
            V::T(date(n)),
            V::I((n % 10) as i64),
            V::T(STATUSES[n % 4].into()),
            V::T(format!("ERP revision {rev} of order line {i}")),
            V::T(format!(r#"{{"line":{i},"rev":{rev}}}"#)),
        ],
    }
}

pub fn part(job_ext: &str, i: usize, j: usize, rev: usize) -> Row {
    let n = i + j + rev;
    Row {
        ext: format!("{job_ext}-{}", (j + 1) * 10),
        parent_ext: Some(job_ext.to_owned()),
        cell: None,
        values: vec![
            V::T(format!("PN-{}", (i * 7 + j) % 500)),
            V::T(MATERIALS[n % 5].into()),
            V::I(1 + (n % 50) as i64),
            V::T(STATUSES[n % 4].into()),
            V::T(format!("revision {rev}")),
            V::T(format!(r#"{{"rev":{rev},"routing":{j}}}"#)),
        ],
    }
}

pub fn operation(part_ext: &str, i: usize, k: usize, rev: usize, cells: usize) -> Row {
    let n = i + k + rev;
    Row {
        ext: format!("{part_ext}-{:03}", (k + 1) * 10),
        parent_ext: Some(part_ext.to_owned()),
        cell: Some(format!("Cell {}", (i + k) % cells)),
        values: vec![
            V::T(OPERATION_NAMES[k % 6].into()),
            V::I(k as i64 + 1),
            V::I(5 + (n % 120) as i64),
            V::T(STATUSES[n % 4].into()),
            V::T(format!("revision {rev}")),
            V::T(format!(r#"{{"rev":{rev},"step":{k}}}"#)),
        ],
    }
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

pub fn cell(i: usize) -> Row {
    Row {
        ext: format!("WC-{i:03}"),
        parent_ext: None,
        cell: None,
        values: vec![
            V::T(format!("Cell {i}")),
            V::T(format!("#{:06x}", (i * 0x3b82f6) & 0xffffff)),
            V::I(i as i64),
            V::I(8 + (i % 3) as i64 * 4),
        ],
    }
}

pub fn resource(i: usize) -> Row {
    const TYPES: [&str; 5] = ["tooling", "fixture", "mold", "material", "equipment"];
    Row {
        ext: format!("RES-{i:05}"),
        parent_ext: None,
        cell: None,
        values: vec![
            V::T(format!("{} {i}", TYPES[i % 5])),
            V::T(TYPES[i % 5].into()),
            V::T(format!("ID-{i:05}")),
            V::T(format!("Hall {}", i % 4)),
        ],
    }
}

/// A record as the API takes it; `top` records carry the source, `flat` children their parent.
pub fn record_json(spec: &Spec, row: &Row, top: bool) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("external_id".into(), row.ext.clone().into());
    if top {
        object.insert("external_source".into(), SOURCE.into());
        if let (Some((_, _, field)), Some(parent)) = (spec.parent, &row.parent_ext) {
            object.insert(field.into(), parent.clone().into());
        }
    }
    if let Some(cell) = &row.cell {
        object.insert("cell_name".into(), cell.clone().into());
    }
    for ((name, ty), value) in spec.columns.iter().zip(&row.values) {
        let value = match (ty, value) {
            (Ty::Json, V::T(text)) => serde_json::from_str(text).expect("bench metadata is JSON"),
            (_, V::T(text)) => Value::from(text.as_str()),
            (_, V::I(int)) => Value::from(*int),
        };
        object.insert((*name).into(), value);
    }
    object
}

pub fn nested_json(nested: &Nested) -> Value {
    let mut job = record_json(&JOBS, &nested.job, true);
    let parts: Vec<Value> = nested
        .parts
        .iter()
        .map(|(part, operations)| {
            let mut part = record_json(&PARTS, part, false);
            let operations: Vec<Value> = operations
                .iter()
                .map(|o| Value::Object(record_json(&OPERATIONS, o, false)))
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

pub fn flat_body(spec: &Spec, rows: &[Row]) -> Vec<u8> {
    let records = rows
        .iter()
        .map(|r| Value::Object(record_json(spec, r, true)))
        .collect();
    bulk_body(spec.entity, records)
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
