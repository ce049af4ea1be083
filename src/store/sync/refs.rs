//! Resolving what a batch's records name: their parents (by the ERP's key or by id) and the
//! cells of their operations, each from one query per kind for the whole batch.

use std::collections::{BTreeSet, HashMap, HashSet};

use uuid::Uuid;

use super::SyncWriter;
use crate::domain::outcome::{ErrorCode, RecordError};
use crate::domain::record::{
    CellRef, Indexed, OperationRecord, ParentRef, Parented, PartRecord, RecordKey,
};
use crate::domain::schema::Entity;
use crate::store::StoreError;

/// The batch's cells, so every operation resolves its `cell_name` (active cells by exact name)
/// or `cell_id` (a live, active cell of this tenant) from two queries for the whole batch.
pub(super) struct CellDirectory {
    /// Live cells by name, with whether each is active: a name only inactive cells bear is
    /// refused saying so (it read "sync the cell first" of a cell synced and deactivated).
    by_name: HashMap<String, Vec<(Uuid, bool)>>,
    ids: HashSet<Uuid>,
    /// The stored operations in the cells the batch names that are not active, by key: an
    /// operation already in a cell since deactivated may stay there, so that the ERP's nightly
    /// re-send of an unchanged routing is not refused
    /// (`errors_store::an_operation_keeps_the_inactive_cell_it_is_in`).
    staying: HashMap<(String, String), Uuid>,
}

impl CellDirectory {
    pub(super) async fn load<'a, W: SyncWriter>(
        writer: &mut W,
        operations: impl Iterator<Item = &'a OperationRecord>,
    ) -> Result<Self, StoreError> {
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for operation in operations {
            match &operation.cell {
                CellRef::Name(name) => names.insert(name.as_str()),
                CellRef::Id(id) => ids.insert(*id),
            };
        }
        let names: Vec<&str> = names.into_iter().collect();
        let ids: Vec<Uuid> = ids.into_iter().collect();
        let by_name = if names.is_empty() {
            HashMap::new()
        } else {
            writer.cells_named(&names).await?
        };
        let active = writer.live_ids(Entity::Cells, &ids).await?;
        // Rare, so read only when some named cell is not active: no active cell bears a name,
        // or an id is not of an active cell.
        let not_active: Vec<Uuid> = by_name
            .values()
            .filter(|cells| !cells.iter().any(|c| c.1))
            .flatten()
            .map(|c| c.0)
            .chain(ids.iter().filter(|id| !active.contains(id)).copied())
            .collect();
        let staying = if not_active.is_empty() {
            HashMap::new()
        } else {
            writer.operations_in(&not_active).await?
        };
        Ok(CellDirectory {
            by_name,
            ids: active,
            staying,
        })
    }

    /// Whether the operation is stored in one of these cells, which it may then keep.
    fn stays_in(&self, operation: &OperationRecord, among: impl Fn(&Uuid) -> bool) -> Option<Uuid> {
        let key = &operation.record.key;
        self.staying
            .get(&(key.source.clone(), key.external_id.clone()))
            .filter(|cell| among(cell))
            .copied()
    }

    pub(super) fn cell_of(&self, operation: &OperationRecord) -> Result<Uuid, RecordError> {
        let name = match &operation.cell {
            CellRef::Id(id) if self.ids.contains(id) => return Ok(*id),
            CellRef::Id(id) => {
                if let Some(cell) = self.stays_in(operation, |cell| cell == id) {
                    return Ok(cell);
                }
                return Err(RecordError::reference(
                    ErrorCode::ReferenceNotFound,
                    "cell_id",
                    format!("no active cell has id {id}"),
                ));
            }
            CellRef::Name(name) => name,
        };
        let cells = self
            .by_name
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let active: Vec<Uuid> = cells.iter().filter(|c| c.1).map(|c| c.0).collect();
        match active.as_slice() {
            [id] => Ok(*id),
            [] if !cells.is_empty() => self
                .stays_in(operation, |cell| cells.iter().any(|c| c.0 == *cell))
                .ok_or_else(|| {
                    RecordError::reference(
                        ErrorCode::ReferenceNotFound,
                        "cell_name",
                        format!(
                            "the cell named {name:?} is inactive (\"active\": false); make it \
                         active or route the operation to another cell"
                        ),
                    )
                }),
            [] => Err(RecordError::reference(
                ErrorCode::ReferenceNotFound,
                "cell_name",
                format!("no active cell is named {name:?}; sync the cell first"),
            )),
            many => Err(RecordError::reference(
                ErrorCode::AmbiguousReference,
                "cell_name",
                format!(
                    "{} active cells are named {name:?}; rename or deactivate all but one",
                    many.len()
                ),
            )),
        }
    }

    /// The cell of every operation of a part, or the first operation's error.
    pub(super) fn cells_of(&self, part: &PartRecord) -> Result<Vec<Uuid>, RecordError> {
        part.operations
            .iter()
            .enumerate()
            .map(|(i, op)| {
                self.cell_of(op)
                    .map_err(|e| e.within(&format!("operations[{i}]")))
            })
            .collect()
    }
}

pub(super) fn missing_parent(
    parent: Entity,
    key: &RecordKey,
    reference: &ParentRef,
) -> RecordError {
    let named = match reference {
        ParentRef::ExternalId(external_id) => {
            format!(
                "with external_id {external_id:?} in source {:?}",
                key.source
            )
        }
        ParentRef::Id(id) => format!("with id {id}"),
    };
    RecordError::reference(
        ErrorCode::ReferenceNotFound,
        reference.field(parent),
        format!(
            "no {} {named}; sync the {} first",
            parent.singular(),
            parent.singular()
        ),
    )
}

/// The id of each item's parent, from one query per kind of reference for the whole batch.
pub(super) async fn resolve_parents<W: SyncWriter, T>(
    writer: &mut W,
    parent: Entity,
    items: &[Indexed<Parented<T>>],
    key_of: impl Fn(&T) -> &RecordKey,
) -> Result<Vec<Option<Uuid>>, StoreError> {
    let keys: Vec<(&str, &str)> = items
        .iter()
        .filter_map(|i| match &i.item.parent {
            ParentRef::ExternalId(external_id) => {
                Some((key_of(&i.item.item).source.as_str(), external_id.as_str()))
            }
            ParentRef::Id(_) => None,
        })
        .collect();
    let ids: Vec<Uuid> = items
        .iter()
        .filter_map(|i| match &i.item.parent {
            ParentRef::Id(id) => Some(*id),
            ParentRef::ExternalId(_) => None,
        })
        .collect();
    let mut by_key = writer.resolve(parent, &keys).await?.into_iter();
    let live = writer.live_ids(parent, &ids).await?;
    Ok(items
        .iter()
        .map(|i| match &i.item.parent {
            ParentRef::ExternalId(_) => by_key.next().flatten(),
            ParentRef::Id(id) => live.contains(id).then_some(*id),
        })
        .collect())
}
