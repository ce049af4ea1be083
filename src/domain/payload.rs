//! What the ERP sends for each entity: every field declared once (see `domain/fields.rs`).
//!
//! A column field's line is `name: Type => Kind [= default | required], "document prose";`,
//! in the order answers show them (the table's own column order does not matter); a line
//! without `=>` is a field that is no column (keys, parent references, nested records). Adding
//! a column: its line here, one migration per engine, and the snapshots to regenerate
//! (docs/contributing.md).

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess};
use serde::Deserialize;
use uuid::Uuid;

use super::expect::{flag, listed, optional_id, present, read, Expected};
use super::fields::payload;
use super::patch::Patch;
use super::schema::Default;
use super::value::{
    Children, Color, HoursPerDay, IsoDate, LongText, Metadata, Name, NonNegative, Positive,
    ResourceStatus, ResourceType, ShortText, Source, WorkStatus,
};

const NOT_STARTED: Default = Default::Text("not_started");

payload! {
    /// A job (sales order) with its nested parts.
    pub struct JobPayload;
    extras JobExtras;
    fields {
        external_id: Name;
        external_source: Source;
        job_number: Name => Text required, "The job (sales order) number.";
        customer: Patch<ShortText> => Text, "";
        due_date: Patch<IsoDate> => Date, "";
        priority: Patch<NonNegative> => Int = Default::Int(0), "";
        status: Patch<WorkStatus> => Text = NOT_STARTED, "";
        notes: Patch<LongText> => Text, "";
        metadata: Patch<Metadata> => Json, "";
        #[serde(default, deserialize_with = "listed")]
        parts: Option<Vec<PartPayload>>;
        /// `replace` deletes stored parts and operations this payload leaves out.
        #[serde(default)]
        children: Option<Children>;
    }
}

payload! {
    /// A part (work order): nested in its job, or on its own naming the job.
    pub struct PartPayload;
    extras PartExtras;
    references job_id => Jobs;
    fields {
        external_id: Name;
        #[serde(default, deserialize_with = "present")]
        external_source: Option<Source>;
        #[serde(default)]
        job_external_id: Option<Name>;
        /// Our id of the job, instead of `job_external_id`.
        #[serde(default, deserialize_with = "optional_id")]
        job_id: Option<Uuid>;
        part_number: Name => Text required, "The part (work order) number.";
        material: Patch<ShortText> => Text, "";
        quantity: Patch<Positive> => Int = Default::Int(1), "";
        status: Patch<WorkStatus> => Text = NOT_STARTED, "";
        notes: Patch<LongText> => Text, "";
        metadata: Patch<Metadata> => Json, "";
        #[serde(default, deserialize_with = "listed")]
        operations: Option<Vec<OperationPayload>>;
    }
}

payload! {
    /// An operation (routing step): nested in its part, or on its own naming the part.
    pub struct OperationPayload;
    extras OperationExtras;
    references part_id => Parts, cell_id => Cells;
    fields {
        external_id: Name;
        #[serde(default, deserialize_with = "present")]
        external_source: Option<Source>;
        #[serde(default)]
        part_external_id: Option<Name>;
        /// Our id of the part, instead of `part_external_id`.
        #[serde(default, deserialize_with = "optional_id")]
        part_id: Option<Uuid>;
        operation_name: Name => Text required, "The routing step's name.";
        #[serde(default)]
        cell_name: Option<Name>;
        /// Our id of the cell, instead of `cell_name`.
        #[serde(default, deserialize_with = "optional_id")]
        cell_id: Option<Uuid>;
        sequence: Patch<Positive> => Int, "Order of the step within its part.";
        /// Also accepted as `estimated_time`, the name Eryxon's hosted API uses.
        #[serde(alias = "estimated_time")]
        estimated_time_minutes: Patch<NonNegative> => Int,
            "Also accepted as `estimated_time`, the name Eryxon's hosted API uses; not both.";
        status: Patch<WorkStatus> => Text = NOT_STARTED, "";
        notes: Patch<LongText> => Text, "";
        metadata: Patch<Metadata> => Json, "";
    }
}

payload! {
    /// A cell (work center).
    pub struct CellPayload;
    extras CellExtras;
    fields {
        external_id: Name;
        external_source: Source;
        name: Name => Text required,
            "The work center's name; operations find their cell by it.";
        color: Patch<Color> => Text, "Display color, #rrggbb.";
        sequence: Patch<NonNegative> => Int, "Display order.";
        #[serde(deserialize_with = "flag")]
        active: Patch<bool> => Bool = Default::Bool(true),
            "Only active cells are found by an operation's cell_name.";
        capacity_hours_per_day: Patch<HoursPerDay> => Real, "";
        wip_limit: Patch<NonNegative> => Int, "";
        notes: Patch<LongText> => Text, "";
        metadata: Patch<Metadata> => Json, "";
    }
}

payload! {
    /// A resource (tooling, fixture, mold, material, equipment).
    pub struct ResourcePayload;
    extras ResourceExtras;
    fields {
        external_id: Name;
        external_source: Source;
        name: Name => Text required, "";
        kind as "type": Patch<ResourceType> => Text, "";
        status: Patch<ResourceStatus> => Text = Default::Text("available"), "";
        description: Patch<LongText> => Text, "";
        identifier: Patch<ShortText> => Text, "";
        location: Patch<ShortText> => Text, "";
        notes: Patch<LongText> => Text, "";
        metadata: Patch<Metadata> => Json, "";
    }
}

/// Payloads are JSON objects only. serde's derive also reads a struct from an array of its
/// field values in declaration order, which would let `["C-1","SAP","Cutting"]` create a cell:
/// each payload derives its decoding as `remote = "Self"` and is read through this, which
/// takes nothing but an object and refuses anything else as `must be a JSON object`.
macro_rules! object_only {
    ($($payload:ident),+) => {$(
        impl<'de> Expected<'de> for $payload {
            fn what(f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
                $payload::deserialize(MapAccessDeserializer::new(map))
            }
        }

        impl<'de> Deserialize<'de> for $payload {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                read(deserializer)
            }
        }
    )+};
}

object_only!(
    JobPayload,
    PartPayload,
    OperationPayload,
    CellPayload,
    ResourcePayload
);
