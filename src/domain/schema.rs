//! The engine-neutral shape of each entity: which columns a sync writes, their kinds and their
//! defaults. Stores generate their SQL from this, so a new field is added in one place.

use serde::Serialize;

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
            Entity::Jobs => JOB_COLUMNS,
            Entity::Parts => PART_COLUMNS,
            Entity::Operations => OPERATION_COLUMNS,
            Entity::Cells => CELL_COLUMNS,
            Entity::Resources => RESOURCE_COLUMNS,
        }
    }
}

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
    Json,
}

/// The value a column takes when a new record leaves it out, or an update sends `null`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    Text(&'static str),
    Int(i64),
    Bool(bool),
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

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        default: None,
    }
}

const fn defaulted(name: &'static str, kind: Kind, default: Default) -> Column {
    Column {
        name,
        kind,
        default: Some(default),
    }
}

const NOT_STARTED: Default = Default::Text("not_started");

const JOB_COLUMNS: &[Column] = &[
    col("job_number", Kind::Text),
    col("customer", Kind::Text),
    col("due_date", Kind::Date),
    defaulted("priority", Kind::Int, Default::Int(0)),
    defaulted("status", Kind::Text, NOT_STARTED),
    col("notes", Kind::Text),
    col("metadata", Kind::Json),
];

const PART_COLUMNS: &[Column] = &[
    col("job_id", Kind::Reference(Entity::Jobs)),
    col("part_number", Kind::Text),
    col("material", Kind::Text),
    defaulted("quantity", Kind::Int, Default::Int(1)),
    defaulted("status", Kind::Text, NOT_STARTED),
    col("notes", Kind::Text),
    col("metadata", Kind::Json),
];

const OPERATION_COLUMNS: &[Column] = &[
    col("part_id", Kind::Reference(Entity::Parts)),
    col("cell_id", Kind::Reference(Entity::Cells)),
    col("operation_name", Kind::Text),
    col("sequence", Kind::Int),
    col("estimated_time_minutes", Kind::Int),
    defaulted("status", Kind::Text, NOT_STARTED),
    col("notes", Kind::Text),
    col("metadata", Kind::Json),
];

const CELL_COLUMNS: &[Column] = &[
    col("name", Kind::Text),
    col("color", Kind::Text),
    col("sequence", Kind::Int),
    defaulted("active", Kind::Bool, Default::Bool(true)),
    col("capacity_hours_per_day", Kind::Real),
    col("wip_limit", Kind::Int),
    col("notes", Kind::Text),
    col("metadata", Kind::Json),
];

const RESOURCE_COLUMNS: &[Column] = &[
    col("name", Kind::Text),
    col("type", Kind::Text),
    defaulted("status", Kind::Text, Default::Text("available")),
    col("description", Kind::Text),
    col("identifier", Kind::Text),
    col("location", Kind::Text),
    col("notes", Kind::Text),
    col("metadata", Kind::Json),
];
