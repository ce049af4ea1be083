//! The engine-neutral shape of each entity: which columns a sync writes, their kinds and their
//! defaults. Stores generate their SQL from this; the columns themselves are declared with
//! the payload fields in `domain/payload.rs`.

use serde::Serialize;

use super::fields::Field;
use super::payload::{CellPayload, JobPayload, OperationPayload, PartPayload, ResourcePayload};

/// The five kinds of record an ERP syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Jobs,
    Parts,
    Operations,
    Cells,
    Resources,
}

impl Entity {
    pub const ALL: [Entity; 5] = [
        Entity::Jobs,
        Entity::Parts,
        Entity::Operations,
        Entity::Cells,
        Entity::Resources,
    ];

    /// The plural used in paths (`/api-jobs`), bulk bodies (`{"jobs": […]}`) and table names.
    pub fn plural(self) -> &'static str {
        match self {
            Entity::Jobs => "jobs",
            Entity::Parts => "parts",
            Entity::Operations => "operations",
            Entity::Cells => "cells",
            Entity::Resources => "resources",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Entity::Jobs => "job",
            Entity::Parts => "part",
            Entity::Operations => "operation",
            Entity::Cells => "cell",
            Entity::Resources => "resource",
        }
    }

    /// Every column a sync writes, in the order records list their values: references to
    /// parent rows first, then the entity's own fields.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Entity::Jobs => JobPayload::COLUMNS,
            Entity::Parts => PartPayload::COLUMNS,
            Entity::Operations => OperationPayload::COLUMNS,
            Entity::Cells => CellPayload::COLUMNS,
            Entity::Resources => ResourcePayload::COLUMNS,
        }
    }

    /// Columns a record shows that no sync writes: progress the shop floor records (such as
    /// `started_at`, `completed_at`, `quantity_good`), declared here once per entity. Records
    /// list them after the synced columns; stores read them like those
    /// (`floor::an_operation_goes_through_its_lifecycle` reads them back).
    pub fn read_only_columns(self) -> &'static [Column] {
        match self {
            Entity::Jobs => JOB_PROGRESS,
            Entity::Parts => PART_PROGRESS,
            Entity::Operations => OPERATION_PROGRESS,
            Entity::Cells | Entity::Resources => &[],
        }
    }

    /// Every column a record shows, in its order: the synced columns, then the read-only ones.
    pub fn read_columns(self) -> impl Iterator<Item = &'static Column> + Clone {
        self.columns().iter().chain(self.read_only_columns())
    }

    /// The entity's own columns (all but references) as the API document describes them, in
    /// column order.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Entity::Jobs => JobPayload::FIELDS,
            Entity::Parts => PartPayload::FIELDS,
            Entity::Operations => OperationPayload::FIELDS,
            Entity::Cells => CellPayload::FIELDS,
            Entity::Resources => ResourcePayload::FIELDS,
        }
    }
}

/// A whole number the floor keeps, 0 until it reports one.
const fn count(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Int,
        default: Some(Default::Int(0)),
    }
}

const fn time(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Time,
        default: None,
    }
}

/// A job's lifecycle times and the minutes it spent in progress (`POST /api-job-lifecycle/…`).
const JOB_PROGRESS: &[Column] = &[
    time("started_at"),
    time("paused_at"),
    time("resumed_at"),
    time("completed_at"),
    count("actual_duration_minutes"),
];

/// When the part completed with its operations, and the units it produced.
const PART_PROGRESS: &[Column] = &[
    time("completed_at"),
    count("quantity_good"),
    count("quantity_scrap"),
    count("quantity_rework"),
];

/// An operation's lifecycle times, the minutes worked on it, its completion (`POST /api-operation-lifecycle/…`) and the
/// units reported produced (`POST /api-operation-quantities`).
const OPERATION_PROGRESS: &[Column] = &[
    time("started_at"),
    time("paused_at"),
    time("completed_at"),
    count("actual_time_minutes"),
    count("completion_percentage"),
    count("quantity_good"),
    count("quantity_scrap"),
    count("quantity_rework"),
];

/// How a column is stored and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The id of a parent row, resolved by the store from the ERP's reference.
    Reference(Entity),
    Text,
    Int,
    Real,
    Bool,
    Date,
    /// A point in time the floor recorded, shown as RFC 3339 in UTC; never synced.
    Time,
    Json,
}

/// The value a column takes when a new record leaves it out, or an update sends `null`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    Text(&'static str),
    Int(i64),
    Bool(bool),
}

impl Default {
    /// The default as the value a store writes.
    pub fn scalar(self) -> Scalar {
        match self {
            Default::Text(text) => Scalar::Text(text.to_owned()),
            Default::Int(n) => Scalar::Int(n),
            Default::Bool(b) => Scalar::Bool(b),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<Default>,
}

/// One value as a store writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
}
