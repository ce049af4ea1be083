//! One CSV cell read as its field's type: what `eryxon push` sends for it, or why it cannot.

use serde_json::{Number, Value};

use crate::domain::value::IsoDate;

/// How a CSV cell is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Integer,
    Number,
    Boolean,
    Date,
    /// A JSON object written into the cell (`metadata`).
    Object,
}

/// A value short enough to quote in a message.
pub(super) fn quoted(value: &str) -> String {
    const MAX: usize = 60;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}…", &value[..end]),
        None => format!("{value:?}"),
    }
}

/// Reads one cell. `Ok(None)` is an empty cell: the field is left out, so the server keeps
/// what it holds (a CSV cell cannot say `null`).
pub fn parse_value(kind: FieldType, cell: &str) -> Result<Option<Value>, String> {
    if cell.is_empty() {
        return Ok(None);
    }
    if kind == FieldType::Text {
        return Ok(Some(Value::String(cell.to_owned())));
    }
    // Typed cells often carry padding from fixed-width ERP exports; it means nothing there.
    let text = cell.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let value = match kind {
        FieldType::Text => unreachable!("handled above"),
        // Spreadsheets and ERP exports write whole numbers as `4.0` or `1e2` too; the server
        // takes any number whose value is whole and judges a fraction or the range with the
        // field's own message, so a number is sent as what it means.
        FieldType::Integer => match text.parse::<i64>() {
            Ok(integer) => Value::from(integer),
            Err(_) => text
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(|n| match n.fract() == 0.0 && n.abs() < 9.0e15 {
                    true => Value::from(n as i64),
                    false => Number::from_f64(n).map_or(Value::Null, Value::Number),
                })
                .ok_or_else(|| format!("{} is not a whole number", quoted(cell)))?,
        },
        FieldType::Number => {
            if let Ok(integer) = text.parse::<i64>() {
                Value::from(integer)
            } else {
                text.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| {
                        format!(
                            "{} is not a number (write it like 7.5, with a decimal point)",
                            quoted(cell)
                        )
                    })?
            }
        }
        FieldType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => {
                return Err(format!(
                    "{} is not a boolean (true/false, yes/no or 1/0)",
                    quoted(cell)
                ))
            }
        },
        FieldType::Date => {
            IsoDate::try_from(text.to_owned())?;
            Value::String(text.to_owned())
        }
        FieldType::Object => match serde_json::from_str::<Value>(text) {
            Ok(object @ Value::Object(_)) => object,
            Ok(_) => return Err(format!("{} is not a JSON object", quoted(cell))),
            Err(error) => return Err(format!("{} is not valid JSON: {error}", quoted(cell))),
        },
    };
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_and_booleans_refuse_what_they_cannot_mean() {
        assert_eq!(parse_value(FieldType::Integer, "4.0"), Ok(Some(json!(4))));
        assert_eq!(parse_value(FieldType::Integer, "1e2"), Ok(Some(json!(100))));
        assert_eq!(
            parse_value(FieldType::Integer, "4.5"),
            Ok(Some(json!(4.5))),
            "a fraction is the server's to refuse, with the field's own message"
        );
        assert!(parse_value(FieldType::Integer, "four").is_err());
        assert!(parse_value(FieldType::Integer, "NaN").is_err());
        assert!(parse_value(FieldType::Number, "7,5")
            .unwrap_err()
            .contains("decimal point"));
        assert!(parse_value(FieldType::Number, "NaN").is_err());
        assert!(parse_value(FieldType::Number, "inf").is_err());
        assert!(parse_value(FieldType::Boolean, "maybe").is_err());
        assert_eq!(
            parse_value(FieldType::Boolean, "YES"),
            Ok(Some(Value::Bool(true)))
        );
        assert_eq!(
            parse_value(FieldType::Integer, "-3"),
            Ok(Some(json!(-3))),
            "ranges are the server's to check, with its own message"
        );
        assert!(parse_value(FieldType::Object, "[1]")
            .unwrap_err()
            .contains("not a JSON object"));
        assert_eq!(parse_value(FieldType::Integer, "   "), Ok(None));
        let long = "x".repeat(500);
        assert!(parse_value(FieldType::Integer, &long).unwrap_err().len() < 100);
    }
}
