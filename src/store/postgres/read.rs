//! Read-back queries. PostgreSQL builds each record's JSON (`json_build_object`, which keeps
//! key order where `jsonb` would not); `sqlite_style` then rewrites it byte for byte the way the
//! SQLite store answers, so clients see one format whichever engine serves them.

use std::fmt::Write as _;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::schema::{Entity, Kind};
use crate::store::{reference_label, visible};

/// `x` as the text of a UTC timestamp in the store's format (`2024-01-02T03:04:05.000000Z`).
pub(super) fn timestamp_text(x: &str) -> String {
    format!("to_char({x} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// How a reference column appears in a record: its id and the parent's human key.
fn reference_fields(column: &str, parent: Entity, alias: &str) -> String {
    let (label, key) = reference_label(parent);
    format!(
        "'{column}', {alias}.{column}, '{label}', (SELECT p.{key} FROM {table} AS p WHERE p.id = {alias}.{column})",
        table = parent.plural()
    )
}

fn column_field(name: &str, kind: Kind, alias: &str) -> String {
    match kind {
        Kind::Reference(parent) => reference_fields(name, parent, alias),
        _ => format!("'{name}', {alias}.\"{name}\""),
    }
}

/// `json_build_object(…)` of one row of `entity` aliased `alias`, with `extra` fields appended.
pub(super) fn record_json(entity: Entity, alias: &str, extra: &str) -> String {
    let mut fields = vec![
        format!("'id', {alias}.id"),
        format!("'external_id', {alias}.external_id"),
        format!("'external_source', {alias}.external_source"),
    ];
    fields.extend(
        entity
            .columns()
            .iter()
            .map(|c| column_field(c.name, c.kind, alias)),
    );
    fields.push(format!(
        "'synced_at', {}",
        timestamp_text(&format!("{alias}.synced_at"))
    ));
    fields.push(format!(
        "'created_at', {}",
        timestamp_text(&format!("{alias}.created_at"))
    ));
    fields.push(format!(
        "'updated_at', {}",
        timestamp_text(&format!("{alias}.updated_at"))
    ));
    fields.push(format!(
        "'deleted_at', {}",
        timestamp_text(&format!("{alias}.deleted_at"))
    ));
    if !extra.is_empty() {
        fields.push(extra.to_owned());
    }
    format!("json_build_object({})", fields.join(", "))
}

/// The `operations` field of the part aliased `part`, by sequence (unsequenced last).
fn operations_of(part: &str, include_deleted: bool) -> String {
    format!(
        "'operations', COALESCE((SELECT json_agg({op} ORDER BY o.sequence ASC NULLS LAST, o.id) \
         FROM operations AS o WHERE o.part_id = {part}.id{live}), '[]'::json)",
        op = record_json(Entity::Operations, "o", ""),
        live = visible("o", include_deleted),
    )
}

/// A job with its parts (oldest first) and each part's operations.
fn job_tree_json(include_deleted: bool) -> String {
    let parts = format!(
        "'parts', COALESCE((SELECT json_agg({part} ORDER BY pt.id) \
         FROM parts AS pt WHERE pt.job_id = t.id{live}), '[]'::json)",
        part = record_json(Entity::Parts, "pt", &operations_of("pt", include_deleted)),
        live = visible("pt", include_deleted),
    );
    record_json(Entity::Jobs, "t", &parts)
}

pub(super) fn get_sql(entity: Entity, by_external: bool, include_deleted: bool) -> String {
    let record = match entity {
        Entity::Jobs => job_tree_json(include_deleted),
        Entity::Parts => record_json(Entity::Parts, "t", &operations_of("t", include_deleted)),
        _ => record_json(entity, "t", ""),
    };
    let key = if by_external {
        "t.external_source = $3::text AND t.external_id = $4::text"
    } else {
        "t.id = $3::uuid"
    };
    format!(
        "SELECT {record}::text FROM {table} AS t \
         WHERE t.tenant_id = $1::uuid AND t.mode = $2::text AND {key}{live}",
        table = entity.plural(),
        live = visible("t", include_deleted),
    )
}

/// A JSON object's members in their order, values untouched.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Rewrites a record of `entity` as SQLite writes it: no white space, `metadata` with its keys
/// sorted (the canonical form the API stores), real numbers printed like SQLite's `%!.15g`.
pub(super) fn sqlite_style(entity: Entity, json: &str) -> Result<String, serde_json::Error> {
    let mut out = String::with_capacity(json.len());
    write_record(entity, json, &mut out)?;
    Ok(out)
}

fn write_record(entity: Entity, json: &str, out: &mut String) -> Result<(), serde_json::Error> {
    let Members(members) = serde_json::from_str(json)?;
    out.push('{');
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(name)?);
        out.push(':');
        let nested = match (entity, name.as_str()) {
            (Entity::Jobs, "parts") => Some(Entity::Parts),
            (Entity::Parts, "operations") => Some(Entity::Operations),
            _ => None,
        };
        let kind = entity
            .columns()
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.kind);
        match (nested, kind) {
            (Some(child), _) => {
                let records: Vec<&RawValue> = serde_json::from_str(value.get())?;
                out.push('[');
                for (j, record) in records.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_record(child, record.get(), out)?;
                }
                out.push(']');
            }
            (None, Some(Kind::Json)) => {
                let value: serde_json::Value = serde_json::from_str(value.get())?;
                out.push_str(&value.to_string());
            }
            (None, Some(Kind::Real)) => match serde_json::from_str::<Option<f64>>(value.get())? {
                Some(real) => out.push_str(&sqlite_real(real)),
                None => out.push_str("null"),
            },
            _ => out.push_str(value.get()),
        }
    }
    out.push('}');
    Ok(())
}

/// A double as SQLite's JSON functions print it (`printf("%!.15g")`): 15 significant digits,
/// trailing zeros dropped but always a fractional part, exponent form below 1e-4 and from 1e15.
fn sqlite_real(value: f64) -> String {
    if !value.is_finite() {
        return "null".to_owned();
    }
    // `{:e}` with 14 decimals rounds to 15 significant digits: "d.dddddddddddddde-5".
    let scientific = format!("{:.14e}", value.abs());
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
    fn reals_print_like_sqlite() {
        let cases = [
            (8.0, "8.0"),
            (8.5, "8.5"),
            (24.0, "24.0"),
            (0.0, "0.0"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.3"),
            (1.0 / 3.0, "0.333333333333333"),
            (12.345678901234567, "12.3456789012346"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1.0e+15"),
            (123456789012345.0, "123456789012345.0"),
            (-2.5, "-2.5"),
        ];
        for (value, text) in cases {
            assert_eq!(sqlite_real(value), text, "{value}");
        }
    }

    #[test]
    fn records_are_rewritten_compactly_in_order() {
        let pg = r#"{"id" : "a", "name" : "x", "capacity_hours_per_day" : 8, "metadata" : {"b": 1, "aa": [1, 2.50]}, "created_at" : "t"}"#;
        assert_eq!(
            sqlite_style(Entity::Cells, pg).unwrap(),
            r#"{"id":"a","name":"x","capacity_hours_per_day":8.0,"metadata":{"aa":[1,2.5],"b":1},"created_at":"t"}"#
        );
        let job = r#"{"id" : "j", "metadata" : null, "parts" : [{"id" : "p", "operations" : [{"id" : "o", "metadata" : {"z": "é\n"}}]}, {"id" : "q", "operations" : []}]}"#;
        assert_eq!(
            sqlite_style(Entity::Jobs, job).unwrap(),
            r#"{"id":"j","metadata":null,"parts":[{"id":"p","operations":[{"id":"o","metadata":{"z":"é\n"}}]},{"id":"q","operations":[]}]}"#
        );
    }
}
