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
    /// list them after the synced columns; stores read them like those. So far the produced
    /// quantities of operations and parts (`store/quantities.rs`).
    pub fn read_only_columns(self) -> &'static [Column] {
        match self {
            Entity::Parts | Entity::Operations => QUANTITIES,
            Entity::Jobs | Entity::Cells | Entity::Resources => &[],
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

const fn quantity(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Int,
        default: Some(Default::Int(0)),
    }
}

/// The units the floor reported produced (`POST /api-operation-quantities`).
const QUANTITIES: &[Column] = &[
    quantity("quantity_good"),
    quantity("quantity_scrap"),
    quantity("quantity_rework"),
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
