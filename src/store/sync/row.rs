//! One row an upsert writes, and what it sends: which columns, their values and the
//! references it resolved, as a mask and one fingerprint.

use uuid::Uuid;
use xxhash_rust::xxh3::xxh3_64;

use crate::domain::floor::is_floor_owned;
use crate::domain::patch::Patch;
use crate::domain::record::RecordKey;
use crate::domain::schema::{Entity, Scalar};

/// One row to create or update: a fresh id (used only if the row is new), its key, the ids of
/// its parents and its own values.
#[derive(Clone)]
pub struct UpsertRow<'a> {
    pub id: Uuid,
    pub key: &'a RecordKey,
    pub refs: Vec<Uuid>,
    pub values: &'a [Patch<Scalar>],
}

impl UpsertRow<'_> {
    /// The floor-owned values the row sends (column index, references first, and value): a
    /// sync never writes them once the floor has acted on the record, and reports them `kept`.
    /// A `null` sends the column's default (`"status": null` is `not_started`), and is kept
    /// and reported alike (`ownership::a_sync_keeps_the_floors_status`).
    pub fn floor_values(&self, entity: Entity) -> impl Iterator<Item = (usize, Scalar)> + '_ {
        let refs = self.refs.len();
        let columns = entity.columns().iter().enumerate();
        columns
            .filter(move |(_, column)| is_floor_owned(entity, column.name))
            .filter_map(
                move |(k, column)| match self.values.get(k.checked_sub(refs)?)? {
                    Patch::Value(value) => Some((k, value.clone())),
                    Patch::Null => Some((k, column.default?.scalar())),
                    _ => None,
                },
            )
    }

    /// Which columns the row sends: bit k for column k (references, which come first, are
    /// always sent).
    pub fn mask(&self) -> u64 {
        let refs = self.refs.len();
        let mut mask: u64 = (1u64 << refs) - 1;
        for (j, value) in self.values.iter().enumerate() {
            if value.is_present() {
                mask |= 1 << (refs + j);
            }
        }
        mask
    }

    /// What the row sends, as one number: which columns, their values and the references it
    /// resolved. Two syncs with the same fingerprint write the same row, so the second one is
    /// unchanged; the stores keep a row's fingerprint only while no other write touched it
    /// (their migrations' triggers). `bytes` is scratch space: one hash over a buffer is
    /// several times faster than feeding a hasher field by field. Signed, as both engines
    /// store 64-bit integers.
    pub fn fingerprint(&self, mask: u64, bytes: &mut Vec<u8>) -> i64 {
        bytes.clear();
        bytes.extend_from_slice(&mask.to_le_bytes());
        for id in &self.refs {
            bytes.extend_from_slice(id.as_bytes());
        }
        for value in self.values {
            match value {
                Patch::Absent => bytes.push(0),
                Patch::Null => bytes.push(1),
                Patch::Value(Scalar::Text(text)) => {
                    bytes.push(2);
                    bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
                    bytes.extend_from_slice(text.as_bytes());
                }
                Patch::Value(Scalar::Int(int)) => {
                    bytes.push(3);
                    bytes.extend_from_slice(&int.to_le_bytes());
                }
                Patch::Value(Scalar::Real(real)) => {
                    bytes.push(4);
                    bytes.extend_from_slice(&real.to_bits().to_le_bytes());
                }
                Patch::Value(Scalar::Bool(flag)) => bytes.extend_from_slice(&[5, u8::from(*flag)]),
            }
        }
        xxh3_64(bytes) as i64
    }
}
