//! Records as the API shows them: what a store reads, typed, and how it is written as JSON.
//!
//! A record lists `id`, `external_id`, `external_source`, then one field per column of
//! [`Entity::read_columns`] in that order (a reference to a parent row as two fields, its id
//! and the parent's human key), then `synced_at`, `created_at`, `updated_at`, `deleted_at`, and
//! last the nested children it was read with (a job's `parts`, a part's `operations`). The
//! column list is the payload's declaration (`domain/payload.rs`), so a declared field shows up
//! in records without being named here again.

use std::fmt::Write as _;
use std::sync::OnceLock;

use serde::ser::{Error as _, SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::schema::{Column, Entity, Kind};

/// One column's value in a record.
#[derive(Debug, Clone)]
pub enum FieldValue {
    Null,
    /// Text, and dates as `YYYY-MM-DD`.
    Text(String),
    Int(i64),
    /// Printed with at most 15 significant digits ([`real_text`]).
    Real(f64),
    Bool(bool),
    /// A JSON object in canonical form (sorted keys, no white space), sent as it is.
    Json(Box<RawValue>),
    /// The id of a parent row and the parent's human key (see [`reference_label`]).
    Reference {
        id: Option<Uuid>,
        label: Option<String>,
    },
}

/// One record as the API shows it.
#[derive(Debug)]
pub struct RecordView {
    pub entity: Entity,
    pub id: Uuid,
    pub external_id: String,
    pub external_source: Option<String>,
    /// One value per column of `entity.read_columns()`, in that order.
    pub values: Vec<FieldValue>,
    pub synced_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    /// The children it was read with: a job's parts, a part's operations (`children_of`).
    pub children: Option<Vec<RecordView>>,
    /// Its JSON text, once asked for (`get`).
    text: OnceLock<String>,
}

impl RecordView {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        entity: Entity,
        id: Uuid,
        external_id: String,
        external_source: Option<String>,
        values: Vec<FieldValue>,
        synced_at: Option<String>,
        created_at: String,
        updated_at: String,
        deleted_at: Option<String>,
    ) -> RecordView {
        RecordView {
            entity,
            id,
            external_id,
            external_source,
            values,
            synced_at,
            created_at,
            updated_at,
            deleted_at,
            children: None,
            text: OnceLock::new(),
        }
    }

    /// The value of column `column` (one of `entity.read_columns()`).
    pub fn value(&self, column: &str) -> Option<&FieldValue> {
        self.entity
            .read_columns()
            .zip(&self.values)
            .find_map(|(c, value)| (c.name == column).then_some(value))
    }

    /// The text (or time, or date) of column `column`; `None` when null.
    pub fn text(&self, column: &str) -> Option<String> {
        match self.value(column) {
            Some(FieldValue::Text(text)) => Some(text.clone()),
            _ => None,
        }
    }

    /// The whole number of column `column`; `None` when null.
    pub fn int(&self, column: &str) -> Option<i64> {
        match self.value(column) {
            Some(FieldValue::Int(n)) => Some(*n),
            _ => None,
        }
    }

    /// The id of the parent row the reference column `column` names.
    pub fn reference(&self, column: &str) -> Option<Uuid> {
        self.entity
            .read_columns()
            .zip(&self.values)
            .find_map(|(c, value)| match value {
                FieldValue::Reference { id, .. } if c.name == column => *id,
                _ => None,
            })
    }

    /// The record's JSON text, exactly as the API sends it (like `RawValue::get`).
    pub fn get(&self) -> &str {
        self.text
            .get_or_init(|| serde_json::to_string(self).expect("a record serializes"))
    }
}

/// A JSON object's text with one more field at its end: an event's record with what the change
/// adds to it (`changed_fields`, `previous_status`), without parsing the record again.
pub fn with_field(object: &str, name: &str, value: &impl Serialize) -> String {
    let body = object.strip_suffix('}').unwrap_or(object);
    let value = serde_json::to_string(value).expect("a field value serializes");
    let comma = if body.ends_with('{') { "" } else { "," };
    format!("{body}{comma}\"{name}\":{value}}}")
}

/// Whether two values of one column are the same (a changed field is one where they are not).
pub fn same_value(a: &FieldValue, b: &FieldValue) -> bool {
    use FieldValue as V;
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Text(a), V::Text(b)) => a == b,
        (V::Int(a), V::Int(b)) => a == b,
        (V::Real(a), V::Real(b)) => a.to_bits() == b.to_bits(),
        (V::Bool(a), V::Bool(b)) => a == b,
        (V::Json(a), V::Json(b)) => a.get() == b.get(),
        (V::Reference { id: a, .. }, V::Reference { id: b, .. }) => a == b,
        _ => false,
    }
}

/// The kind of record nested in a record of `entity` when it is read with its children.
pub fn children_of(entity: Entity) -> Option<Entity> {
    match entity {
        Entity::Jobs => Some(Entity::Parts),
        Entity::Parts => Some(Entity::Operations),
        Entity::Operations | Entity::Cells | Entity::Resources => None,
    }
}

/// How a record shows a reference to `parent`: the field naming it, and the parent's column
/// that field shows (`job_external_id` ← jobs.external_id, `cell_name` ← cells.name).
pub fn reference_label(parent: Entity) -> (&'static str, &'static str) {
    match parent {
        Entity::Cells => ("cell_name", "name"),
        Entity::Jobs => ("job_external_id", "external_id"),
        Entity::Parts => ("part_external_id", "external_id"),
        Entity::Operations | Entity::Resources => unreachable!("nothing references {parent:?}"),
    }
}

impl Serialize for RecordView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("external_id", &self.external_id)?;
        map.serialize_entry("external_source", &self.external_source)?;
        for (column, value) in self.entity.read_columns().zip(&self.values) {
            write_field(&mut map, column, value)?;
        }
        map.serialize_entry("synced_at", &self.synced_at)?;
        map.serialize_entry("created_at", &self.created_at)?;
        map.serialize_entry("updated_at", &self.updated_at)?;
        map.serialize_entry("deleted_at", &self.deleted_at)?;
        if let (Some(children), Some(child)) = (&self.children, children_of(self.entity)) {
            map.serialize_entry(child.plural(), children)?;
        }
        map.end()
    }
}

fn write_field<M: SerializeMap>(
    map: &mut M,
    column: &Column,
    value: &FieldValue,
) -> Result<(), M::Error> {
    let name = column.name;
    match value {
        FieldValue::Null => match column.kind {
            Kind::Reference(parent) => {
                map.serialize_entry(name, &())?;
                map.serialize_entry(reference_label(parent).0, &())
            }
            _ => map.serialize_entry(name, &()),
        },
        FieldValue::Text(text) => map.serialize_entry(name, text),
        FieldValue::Int(n) => map.serialize_entry(name, n),
        FieldValue::Real(x) => {
            let text = RawValue::from_string(real_text(*x)).map_err(M::Error::custom)?;
            map.serialize_entry(name, &text)
        }
        FieldValue::Bool(b) => map.serialize_entry(name, b),
        FieldValue::Json(json) => map.serialize_entry(name, json),
        FieldValue::Reference { id, label } => {
            let label_name = match column.kind {
                Kind::Reference(parent) => reference_label(parent).0,
                _ => return Err(M::Error::custom(format!("{name} is no reference"))),
            };
            map.serialize_entry(name, id)?;
            map.serialize_entry(label_name, label)
        }
    }
}

/// A real number as records print it: the fewest digits that read back as the stored number,
/// so that a value read and sent back is the value stored and the re-send is `unchanged`
/// (`reals::a_real_read_back_and_sent_again_is_unchanged`); in the style of C's `%!.15g`,
/// which SQLite's JSON printed and clients have seen since: always a fractional part, exponent
/// form below 1e-4 and from 1e15 (`8.0`, `7.5`, `0.30000000000000004`, `1.0e-05`). Fewer
/// digits would show two stored numbers alike, and a client's re-send of one as a change.
pub fn real_text(value: f64) -> String {
    if !value.is_finite() {
        return "null".to_owned();
    }
    // `{:e}` writes the shortest digits that read back as the same number: "d.ddde-5".
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut out = String::new();
    if value.is_sign_negative() {
        out.push('-');
    }
    if !(-4..=14).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "{first}.{rest}e{sign}{:02}", exponent.abs());
    } else if exponent < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
        out.push_str(digits);
    } else {
        let whole = exponent as usize + 1;
        if digits.len() > whole {
            let _ = write!(out, "{}.{}", &digits[..whole], &digits[whole..]);
        } else {
            let _ = write!(out, "{digits:0<whole$}.0");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_print_the_digits_that_read_back_as_themselves() {
        let cases = [
            (8.0, "8.0"),
            (8.5, "8.5"),
            (24.0, "24.0"),
            (0.0, "0.0"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (12.345678901234567, "12.345678901234567"),
            (7.123456789012345, "7.123456789012345"),
            (1e-7, "1.0e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1.0e+15"),
            (123456789012345.0, "123456789012345.0"),
            (-2.5, "-2.5"),
        ];
        for (value, text) in cases {
            assert_eq!(real_text(value), text, "{value}");
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                value.to_bits(),
                "{text}"
            );
        }
    }

    fn cell(values: Vec<FieldValue>) -> RecordView {
        let mut view = RecordView::new(
            Entity::Cells,
            Uuid::nil(),
            "C-1".into(),
            Some("SAP".into()),
            values,
            None,
            "c".into(),
            "u".into(),
            None,
        );
        view.children = Some(Vec::new());
        view
    }

    #[test]
    fn records_list_their_fields_in_column_order() {
        let columns: Vec<_> = Entity::Cells.read_columns().map(|c| c.kind).collect();
        let values = columns
            .iter()
            .map(|kind| match kind {
                Kind::Real => FieldValue::Real(8.0),
                Kind::Bool => FieldValue::Bool(true),
                Kind::Json => {
                    FieldValue::Json(RawValue::from_string(r#"{"a":[1]}"#.into()).unwrap())
                }
                Kind::Int => FieldValue::Int(3),
                _ => FieldValue::Null,
            })
            .collect();
        let view = cell(values);
        // Cells have no children, so none are listed even when set.
        assert_eq!(
            view.get(),
            r#"{"id":"00000000-0000-0000-0000-000000000000","external_id":"C-1","external_source":"SAP","name":null,"color":null,"sequence":3,"active":true,"capacity_hours_per_day":8.0,"wip_limit":3,"notes":null,"metadata":{"a":[1]},"synced_at":null,"created_at":"c","updated_at":"u","deleted_at":null}"#
        );
    }

    #[test]
    fn a_reference_shows_its_id_and_its_parents_key() {
        let mut values: Vec<_> = Entity::Operations
            .read_columns()
            .map(|_| FieldValue::Null)
            .collect();
        values[0] = FieldValue::Reference {
            id: Some(Uuid::nil()),
            label: Some("P-1".into()),
        };
        let view = RecordView::new(
            Entity::Operations,
            Uuid::nil(),
            "O-1".into(),
            None,
            values,
            None,
            "c".into(),
            "u".into(),
            None,
        );
        let json: serde_json::Value = serde_json::from_str(view.get()).unwrap();
        assert_eq!(json["part_id"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(json["part_external_id"], "P-1");
        assert_eq!(json["cell_id"], serde_json::Value::Null);
        assert!(json.as_object().unwrap().contains_key("cell_name"));
        assert_eq!(view.reference("part_id"), Some(Uuid::nil()));
        assert_eq!(view.reference("cell_id"), None);
    }
}
