//! Turns request bytes into typed values, reporting the JSON path of whatever is wrong.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A rejected field: where it is (`parts[0].operations[1].cell_name`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A one-line explanation naming the field, for the human `message`/`error` strings.
    pub fn describe(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// The same error seen from an enclosing record, e.g. `quantity` inside `parts[2]`.
    pub fn within(self, prefix: &str) -> Self {
        let field = match self.field {
            Some(field) => format!("{prefix}.{field}"),
            None => prefix.to_owned(),
        };
        FieldError {
            field: Some(field),
            message: self.message,
        }
    }
}

/// Decodes one JSON document into `T`, refusing trailing data, unknown fields (where `T` says
/// so) and wrong types, with the path of the offending field.
pub fn decode<T: DeserializeOwned>(json: &[u8]) -> Result<T, FieldError> {
    // Tracking the path costs about as much as the parse itself, and only a failure needs it:
    // valid documents take the plain parse, and a failed one is parsed again to find its path.
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    if let Ok(value) =
        T::deserialize(&mut deserializer).and_then(|v| deserializer.end().map(|()| v))
    {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer.end().map_err(syntax_error)?;
    Ok(value)
}

fn syntax_error(error: serde_json::Error) -> FieldError {
    FieldError {
        field: None,
        message: format!("invalid JSON: {error}"),
    }
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if !inner.is_data() {
        return syntax_error(inner);
    }
    let message = strip_position(&inner.to_string());
    let container = (path != ".").then_some(path);
    // serde reports missing and unknown keys against the object that holds them; the user
    // wants the key itself named.
    let named_key = named_key(&message, "missing field `")
        .or_else(|| named_key(&message, "unknown field `"))
        .or_else(|| named_key(&message, "duplicate field `"));
    let field = match (container, named_key) {
        // Unknown keys arrive with the key already on the path; missing and repeated ones
        // never do.
        (Some(path), Some(key)) if path == key || path.ends_with(&format!(".{key}")) => Some(path),
        (Some(container), Some(key)) => Some(format!("{container}.{key}")),
        (None, Some(key)) => Some(key.to_owned()),
        (container, None) => container,
    };
    FieldError { field, message }
}

fn named_key<'a>(message: &'a str, lead: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(lead)?;
    rest.find('`').map(|end| &rest[..end])
}

/// serde_json ends data errors with the position in the document; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(default)]
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn error_of(json: &str) -> FieldError {
        decode::<Outer>(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn wrong_type_names_the_nested_path() {
        let error = error_of(r#"{"name":"a","items":[{"count":1},{"count":"x"}]}"#);
        assert_eq!(error.field.as_deref(), Some("items[1].count"));
        assert!(error.message.contains("invalid type"), "{}", error.message);
        assert!(!error.message.contains("line"), "{}", error.message);
    }

    #[test]
    fn missing_and_unknown_keys_name_the_key() {
        let missing = error_of(r#"{"items":[]}"#);
        assert_eq!(missing.field.as_deref(), Some("name"));
        let unknown = error_of(r#"{"name":"a","items":[{"count":1,"cuont":2}]}"#);
        assert_eq!(unknown.field.as_deref(), Some("items[0].cuont"));
        assert!(unknown.message.starts_with("unknown field `cuont`"));
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let error = error_of("{\"name\":\n \"a\",}");
        assert_eq!(error.field, None);
        assert!(error.message.contains("line 2"), "{}", error.message);
        let trailing = error_of(r#"{"name":"a"} x"#);
        assert!(trailing.message.starts_with("invalid JSON"));
    }
}
