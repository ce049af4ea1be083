//! The validated records the stores write. How each entity's payload becomes one is in
//! `from_payload.rs`.

mod from_payload;

use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::decode::FieldError;
use super::patch::Patch;
pub use super::payload::{CellPayload, JobPayload, OperationPayload, PartPayload, ResourcePayload};
use super::schema::{Entity, Scalar};
pub use super::value::Children;

/// The identity of a record inside one tenant and mode: the ERP system and its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    pub source: String,
    pub external_id: String,
}

/// A validated record: its key and its own field values, in the order of the entity's
/// non-reference columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: RecordKey,
    pub values: Vec<Patch<Scalar>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OperationRecord {
    pub record: Record,
    /// The work center the step runs in.
    pub cell: CellRef,
}

/// How an operation names its cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellRef {
    /// The exact name of an active cell, whatever its source.
    Name(String),
    /// Our id of the cell, as clients of Eryxon's hosted API send it.
    Id(Uuid),
}

/// How a flat part or operation names its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentRef {
    /// The parent's `external_id`, in the child's own source.
    ExternalId(String),
    /// Our id of the parent, as clients of Eryxon's hosted API send it.
    Id(Uuid),
}

impl ParentRef {
    /// The request field that carried the reference, for errors.
    pub fn field(&self, parent: Entity) -> String {
        match self {
            ParentRef::ExternalId(_) => format!("{}_external_id", parent.singular()),
            ParentRef::Id(_) => format!("{}_id", parent.singular()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartRecord {
    pub record: Record,
    pub operations: Vec<OperationRecord>,
    /// Whether the payload had `operations` (an empty list included): a part left without it
    /// under `children=replace` is refused rather than read as "no operations".
    pub operations_listed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub record: Record,
    pub parts: Vec<PartRecord>,
    /// Whether the payload had `parts` (an empty list included), as for
    /// [`PartRecord::operations_listed`].
    pub parts_listed: bool,
    /// `None`: as the request says; the job's own `children` field overrides it.
    pub children: Option<Children>,
}

impl JobRecord {
    /// Under `replace`, the job lists its parts and each part its operations (`[]` for none).
    pub(crate) fn check_children_listed(&self) -> Result<(), FieldError> {
        if self.children != Some(Children::Replace) {
            return Ok(());
        }
        let required = |field: &str, what: &str| {
            FieldError::new(
                field,
                format!(
                    "is required with children=replace, which deletes the stored {what} it \
                     leaves out: list them all, or send [] to delete them all"
                ),
            )
        };
        if !self.parts_listed {
            return Err(required("parts", "parts"));
        }
        match self.parts.iter().position(|part| !part.operations_listed) {
            Some(i) => Err(required(&format!("parts[{i}].operations"), "operations")),
            None => Ok(()),
        }
    }
}

/// A flat part or operation with the reference to its parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Parented<T> {
    pub parent: ParentRef,
    pub item: T,
}

/// A record with its position in the request, so results come back in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed<T> {
    pub index: usize,
    pub item: T,
}

/// Valid records of one entity, ready for a store to write in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncBatch {
    Jobs(Vec<Indexed<JobRecord>>),
    Parts(Vec<Indexed<Parented<PartRecord>>>),
    Operations(Vec<Indexed<Parented<OperationRecord>>>),
    Cells(Vec<Indexed<Record>>),
    Resources(Vec<Indexed<Record>>),
}

impl SyncBatch {
    pub fn len(&self) -> usize {
        match self {
            SyncBatch::Jobs(items) => items.len(),
            SyncBatch::Parts(items) => items.len(),
            SyncBatch::Operations(items) => items.len(),
            SyncBatch::Cells(items) | SyncBatch::Resources(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The distinct ERP systems the batch's records come from, sorted.
    pub fn sources(&self) -> Vec<String> {
        let keys: Vec<&RecordKey> = match self {
            SyncBatch::Jobs(items) => items.iter().map(|i| &i.item.record.key).collect(),
            SyncBatch::Parts(items) => items.iter().map(|i| &i.item.item.record.key).collect(),
            SyncBatch::Operations(items) => items.iter().map(|i| &i.item.item.record.key).collect(),
            SyncBatch::Cells(items) | SyncBatch::Resources(items) => {
                items.iter().map(|i| &i.item.key).collect()
            }
        };
        let sources: std::collections::BTreeSet<&str> =
            keys.into_iter().map(|k| k.source.as_str()).collect();
        sources.into_iter().map(str::to_owned).collect()
    }
}

/// A sync payload as the ERP sends it, for one entity.
pub trait Payload: DeserializeOwned + Send + 'static {
    const ENTITY: Entity;
    /// The validated record this payload becomes at the top level of a request.
    type Item: Send + 'static;

    fn into_item(self) -> Result<Self::Item, FieldError>;

    /// Applies the request's `children` mode (`?children=`) to an item that does not set its
    /// own, and checks the item under it. Only jobs have children.
    fn settle(item: &mut Self::Item, children: Option<Children>) -> Result<(), FieldError> {
        let _ = (item, children);
        Ok(())
    }

    /// Every key the item writes, with the field path that names it, for finding records
    /// that appear twice in one request.
    fn keys(item: &Self::Item) -> Keys<'_>;

    fn batch(items: Vec<Indexed<Self::Item>>) -> SyncBatch;
}

/// Where a key sits in the record that carries it: the record's own `external_id`, or a nested
/// part's or operation's. Spelled out as a field path only for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPlace {
    pub part: Option<usize>,
    pub operation: Option<usize>,
}

impl KeyPlace {
    pub const TOP: KeyPlace = KeyPlace {
        part: None,
        operation: None,
    };

    /// The key's field path, e.g. `parts[1].operations[0].external_id`.
    pub fn field(self) -> String {
        let part = self.part.map(|p| format!("parts[{p}]."));
        let operation = self.operation.map(|o| format!("operations[{o}]."));
        format!(
            "{}{}external_id",
            part.unwrap_or_default(),
            operation.unwrap_or_default()
        )
    }
}

/// Every key an item writes, with where it sits.
pub type Keys<'a> = Vec<(Entity, &'a RecordKey, KeyPlace)>;
