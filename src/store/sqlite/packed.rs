//! SQLite's fast read: a statement's rows packed into one JSON text by SQLite and decoded here
//! in one pass. Fetching one row instead of many halves the time of a 1000-row page
//! (`docs/performance.md`, figure `list_operations`); `reads::` golden tests guard that the
//! packed and the row-by-row decoding answer the same bytes.

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::domain::schema::{Entity, Kind};
use crate::domain::view::{FieldValue, RecordView};
use crate::store::StoreError;

/// SQLite: a statement selecting [`columns`](crate::store::read::columns) of `entity` as one row holding one JSON text, the
/// array of its rows (each an array of the columns, in order), which [`decode_packed`] reads.
/// Reading one row instead of many is much faster there; `json_group_array` over a subquery
/// with `ORDER BY` keeps that order (SQLite keeps a subquery's `ORDER BY` under an aggregate
/// other than `count`, `min`, `max`). A real is selected as the text `quote` prints, which
/// reads back as the same `f64` (the JSON number would have 15 significant digits only).
pub(crate) fn packed(entity: Entity, sql: &str) -> String {
    let mut values = vec!["c0".to_owned(), "c1".to_owned(), "c2".to_owned()];
    for column in entity.read_columns() {
        let k = values.len();
        match column.kind {
            Kind::Reference(_) => values.extend([format!("c{k}"), format!("c{}", k + 1)]),
            Kind::Real => values.push(format!("nullif(quote(c{k}), 'NULL')")),
            _ => values.push(format!("c{k}")),
        }
    }
    let k = values.len();
    values.extend((k..k + 4).map(|k| format!("c{k}")));
    format!(
        "SELECT json_group_array(json_array({})) FROM ({sql})",
        values.join(", ")
    )
}
/// The records of `entity` in the text a [`packed`] statement answers: one JSON array per
/// record holding the values of [`columns`](crate::store::read::columns) in order (ids, text, dates and times as strings,
/// integers and booleans (0/1) as numbers, reals as numbers or as text, a JSON column embedded
/// or as a string of its text). Read in one pass, ids without copying.
pub(crate) fn decode_packed(entity: Entity, text: &str) -> Result<Vec<RecordView>, StoreError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let records = PackedRows(entity)
        .deserialize(&mut deserializer)
        .and_then(|records| deserializer.end().map(|()| records))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(records)
}

/// The array of records [`decode_packed`] reads.
struct PackedRows(Entity);

impl<'de> DeserializeSeed<'de> for PackedRows {
    type Value = Vec<RecordView>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PackedRows {
    type Value = Vec<RecordView>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(record) = seq.next_element_seed(PackedRecord(self.0))? {
            records.push(record);
        }
        Ok(records)
    }
}

/// One record's array of values.
struct PackedRecord(Entity);

impl<'de> DeserializeSeed<'de> for PackedRecord {
    type Value = RecordView;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

/// A real as a JSON number or as the text of one.
struct PackedReal(f64);

impl<'de> Deserialize<'de> for PackedReal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RealVisitor)
    }
}

struct RealVisitor;

impl Visitor<'_> for RealVisitor {
    type Value = PackedReal;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a real number or its text")
    }

    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<PackedReal, E> {
        Ok(PackedReal(x))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<PackedReal, E> {
        Ok(PackedReal(n as f64))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<PackedReal, E> {
        Ok(PackedReal(n as f64))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<PackedReal, E> {
        text.parse().map(PackedReal).map_err(E::custom)
    }
}

impl<'de> Visitor<'de> for PackedRecord {
    type Value = RecordView;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a record's array of values")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let entity = self.0;
        let mut at = 0;
        macro_rules! value {
            ($type:ty) => {{
                at += 1;
                seq.next_element::<$type>()?
                    .ok_or_else(|| A::Error::invalid_length(at - 1, &self))?
            }};
        }
        let uuid = |text: &str| Uuid::parse_str(text).map_err(A::Error::custom);
        let id = uuid(value!(&str))?;
        let external_id = value!(String);
        let external_source = value!(Option<String>);
        let mut values = Vec::with_capacity(entity.columns().len());
        for column in entity.read_columns() {
            let value = match column.kind {
                Kind::Reference(_) => FieldValue::Reference {
                    id: value!(Option<&str>).map(uuid).transpose()?,
                    label: value!(Option<String>),
                },
                Kind::Text | Kind::Date | Kind::Time => {
                    value!(Option<String>).map_or(FieldValue::Null, FieldValue::Text)
                }
                Kind::Int => value!(Option<i64>).map_or(FieldValue::Null, FieldValue::Int),
                Kind::Real => value!(Option<PackedReal>)
                    .map_or(FieldValue::Null, |PackedReal(x)| FieldValue::Real(x)),
                Kind::Bool => {
                    value!(Option<i64>).map_or(FieldValue::Null, |n| FieldValue::Bool(n != 0))
                }
                Kind::Json => match value!(Option<&RawValue>) {
                    None => FieldValue::Null,
                    // `json()`'s text, which a subquery may hand over as a plain string.
                    Some(raw) if raw.get().starts_with('"') => {
                        let text: String =
                            serde_json::from_str(raw.get()).map_err(A::Error::custom)?;
                        FieldValue::Json(RawValue::from_string(text).map_err(A::Error::custom)?)
                    }
                    Some(raw) => FieldValue::Json(raw.to_owned()),
                },
            };
            values.push(value);
        }
        let record = RecordView::new(
            entity,
            id,
            external_id,
            external_source,
            values,
            value!(Option<String>),
            value!(String),
            value!(String),
            value!(Option<String>),
        );
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(A::Error::custom(
                "a record has more values than its columns",
            ));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packed row of a cell: every kind of column, JSON embedded or as a string.
    fn packed_cell(metadata: &str, capacity: &str) -> String {
        let mut values = vec![
            r#""0190a000-0000-7000-8000-000000000001""#.to_owned(),
            r#""C-1""#.to_owned(),
            "null".to_owned(),
        ];
        for column in Entity::Cells.read_columns() {
            values.push(match (column.kind, column.name) {
                (Kind::Json, _) => metadata.to_owned(),
                (Kind::Real, _) => capacity.to_owned(),
                (Kind::Bool, _) => "1".to_owned(),
                (Kind::Int, _) => "7".to_owned(),
                (Kind::Text | Kind::Date, "name") => r#""Saw \"A\"""#.to_owned(),
                _ => "null".to_owned(),
            });
        }
        values.extend(
            [
                "null",
                r#""2024-01-02T03:04:05.000000Z""#,
                r#""2024-01-02T03:04:05.000000Z""#,
                "null",
            ]
            .map(str::to_owned),
        );
        format!("[[{}]]", values.join(","))
    }

    #[test]
    fn packed_rows_read_like_rows() {
        for (metadata, capacity) in [
            (r#"{"a":1e+20,"b":[1,"x"]}"#, "0.30000000000000004"),
            (
                r#""{\"a\":1e+20,\"b\":[1,\"x\"]}""#,
                r#""3.00000000000000044409e-01""#,
            ),
        ] {
            let text = packed_cell(metadata, capacity);
            let records = decode_packed(Entity::Cells, &text).unwrap();
            let [record] = records.as_slice() else {
                panic!("one record")
            };
            let mut json = None;
            for (column, value) in Entity::Cells.read_columns().zip(&record.values) {
                match (column.kind, value) {
                    (Kind::Json, FieldValue::Json(raw)) => json = Some(raw.get().to_owned()),
                    (Kind::Real, FieldValue::Real(x)) => assert_eq!(*x, 0.1 + 0.2),
                    (Kind::Bool, FieldValue::Bool(b)) => assert!(b),
                    (Kind::Int, FieldValue::Int(n)) => assert_eq!(*n, 7),
                    (_, FieldValue::Text(text)) => assert_eq!(text, "Saw \"A\""),
                    (_, FieldValue::Null) => {}
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(json.as_deref(), Some(r#"{"a":1e+20,"b":[1,"x"]}"#));
            assert_eq!(record.created_at, "2024-01-02T03:04:05.000000Z");
            assert_eq!(record.deleted_at, None);
        }
        assert!(decode_packed(Entity::Cells, "[]").unwrap().is_empty());
        assert!(decode_packed(Entity::Cells, r#"[["x"]]"#).is_err());
        let long = packed_cell("null", "null").replace("]]", ",1]]");
        assert!(decode_packed(Entity::Cells, &long).is_err());
    }
}
