//! A batch as the SQLite writer's statements read it: one JSON array parameter, a row per
//! record, which `json_each` takes apart (`sql.rs`). Each row carries its key, which columns it
//! sends (its mask), the fingerprint of what it sends, its references and its values, at the
//! positions the statements read: [`INSERTED_VALUES`] and [`UPDATED_VALUES`] are shared with
//! `sql.rs`, so the two cannot disagree on where a row's values start.
//!
//! A value the record left out is encoded as `null` with its bit clear in the mask, so an update
//! keeps the stored value and an insert takes the column's default
//! (`semantics::absent_keeps_and_null_clears`); the fingerprint covers the mask, the references
//! and every value, so a re-send is told unchanged and anything else is not
//! (`semantics::an_unchanged_resync_writes_nothing`, the property test
//! `a_resend_changes_nothing`).

use std::fmt::Write;

use serde::ser::{Serialize, SerializeSeq, Serializer};
use uuid::Uuid;

use crate::domain::patch::Patch;
use crate::store::UpsertRow;

use super::known::KeyHash;
use super::recall::Recall;

/// Position of the first column value in a row to insert: `[id, source, external_id, mask,
/// fingerprint, …]`.
pub(super) const INSERTED_VALUES: usize = 5;
/// The same in a row to update, which names its stored row by rowid and id: `[rowid, id,
/// mask, fingerprint, …]`.
pub(super) const UPDATED_VALUES: usize = 4;

/// Which columns a row sends (bit k for column k; references are always sent), and the
/// fingerprint of what it sends.
#[derive(Clone, Copy)]
pub(super) struct Sent {
    pub mask: u64,
    pub fingerprint: i64,
}

impl Sent {
    fn of(row: &UpsertRow<'_>, scratch: &mut Vec<u8>) -> Sent {
        let mask = row.mask();
        Sent {
            mask,
            fingerprint: row.fingerprint(mask, scratch),
        }
    }
}

/// A row as the insert reads it: `[id, source, external_id, mask, fingerprint, refs…,
/// values…]`.
#[derive(Clone, Copy)]
pub(super) struct EncodedRow<'r, 'a> {
    pub row: &'r UpsertRow<'a>,
    pub sent: Sent,
    /// The row's key as what is known of stored rows names it.
    pub known_as: KeyHash,
}

impl<'r, 'a> EncodedRow<'r, 'a> {
    pub fn of(row: &'r UpsertRow<'a>, scratch: &mut Vec<u8>, recall: Recall<'_>) -> Self {
        EncodedRow {
            row,
            sent: Sent::of(row, scratch),
            known_as: recall.key_of(row),
        }
    }

    pub fn sends_every_column(&self) -> bool {
        self.sent.mask.count_ones() as usize == self.row.refs.len() + self.row.values.len()
    }

    /// The row as the key look reads it: `[source, external_id, fingerprint, refs…]`.
    pub fn key(self) -> KeyRow<'r, 'a> {
        KeyRow(self)
    }

    /// What an update writes of the row, `[mask, fingerprint, refs…, values…]`, as JSON.
    pub fn encoded_fields(self) -> String {
        encode(&Fields(self))
    }
}

/// A stored row to update: its rowid and id, and its fields as [`EncodedRow::encoded_fields`]
/// gave them.
pub(super) struct UpdateRow<'f> {
    pub rowid: i64,
    pub id: Uuid,
    pub fields: &'f str,
    pub sends_every_column: bool,
}

/// The rows to update as the update statements read them: `[[rowid, id, mask, fingerprint,
/// refs…, values…], …]`.
pub(super) fn update_batch(rows: &[UpdateRow<'_>]) -> String {
    let length = rows.iter().map(|r| r.fields.len() + 64).sum::<usize>();
    let mut batch = String::with_capacity(length + 2);
    batch.push('[');
    for (k, row) in rows.iter().enumerate() {
        if k > 0 {
            batch.push(',');
        }
        // `fields` is a JSON array; the rowid and id go first in it.
        let fields = row.fields.strip_prefix('[').unwrap_or(row.fields);
        write!(batch, "[{},\"{}\",{fields}", row.rowid, row.id.hyphenated())
            .expect("writing to a String never fails");
    }
    batch.push(']');
    batch
}

pub(super) struct KeyRow<'r, 'a>(EncodedRow<'r, 'a>);

impl Serialize for KeyRow<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0.row;
        let mut seq = serializer.serialize_seq(Some(3 + row.refs.len()))?;
        seq.serialize_element(&row.key.source)?;
        seq.serialize_element(&row.key.external_id)?;
        seq.serialize_element(&self.0.sent.fingerprint)?;
        let mut text = Uuid::encode_buffer();
        for id in &row.refs {
            seq.serialize_element(&*id.hyphenated().encode_lower(&mut text))?;
        }
        seq.end()
    }
}

impl Serialize for EncodedRow<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.row;
        let length = INSERTED_VALUES + row.refs.len() + row.values.len();
        let mut seq = serializer.serialize_seq(Some(length))?;
        let mut text = Uuid::encode_buffer();
        seq.serialize_element(&*row.id.hyphenated().encode_lower(&mut text))?;
        seq.serialize_element(&row.key.source)?;
        seq.serialize_element(&row.key.external_id)?;
        serialize_fields(&mut seq, *self)?;
        seq.end()
    }
}

/// A row's `[mask, fingerprint, refs…, values…]`.
struct Fields<'r, 'a>(EncodedRow<'r, 'a>);

impl Serialize for Fields<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0.row;
        let length = UPDATED_VALUES - 2 + row.refs.len() + row.values.len();
        let mut seq = serializer.serialize_seq(Some(length))?;
        serialize_fields(&mut seq, self.0)?;
        seq.end()
    }
}

fn serialize_fields<S: SerializeSeq>(
    seq: &mut S,
    encoded: EncodedRow<'_, '_>,
) -> Result<(), S::Error> {
    let row = encoded.row;
    seq.serialize_element(&encoded.sent.mask)?;
    seq.serialize_element(&encoded.sent.fingerprint)?;
    let mut text = Uuid::encode_buffer();
    for id in &row.refs {
        seq.serialize_element(&*id.hyphenated().encode_lower(&mut text))?;
    }
    for value in row.values {
        match value {
            Patch::Value(scalar) => seq.serialize_element(scalar)?,
            Patch::Null | Patch::Absent => seq.serialize_element(&())?,
        }
    }
    Ok(())
}

/// A value as a JSON parameter.
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain values always serialize")
}
