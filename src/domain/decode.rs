//! Turns request bytes into typed values, reporting the JSON path of whatever is wrong.

use std::fmt;

use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_path_to_error::Segment;

use super::expect::TOO_LARGE;

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
        FieldError {
            field: Some(within(prefix, self.field.as_deref())),
            message: self.message,
        }
    }
}

/// `field` seen from `prefix`: `parts[2]` and `quantity` give `parts[2].quantity`.
pub fn within(prefix: &str, field: Option<&str>) -> String {
    match field {
        Some(field) if field.starts_with('[') => format!("{prefix}{field}"),
        Some(field) => format!("{prefix}.{field}"),
        None => prefix.to_owned(),
    }
}

/// Appends a key to a field path: `.name` for a plain name, else `["the key"]`, quoted as in
/// JSON, so that a key holding dots, brackets or nothing at all cannot be misread as a path.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&serde_json::Value::from(key).to_string());
        path.push(']');
    }
}

/// The path of a decoding error as the client reads it, `None` for the document itself. A key
/// that could not be read (serde_path_to_error's unknown segment) ends the path: the error
/// belongs to the object holding it.
fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    let mut field = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut field, key),
            Segment::Unknown => break,
        }
    }
    (!field.is_empty()).then_some(field)
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
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| path_error(error, json))?;
    deserializer
        .end()
        .map_err(|error| syntax_error(error, json))?;
    Ok(value)
}

/// Decodes a request body, which is a JSON object on every route: serde's derive would also
/// read a struct from an array of its field values in declaration order (`["ana", …]` as a
/// lifecycle body), and name the Rust type in its refusal of a scalar. Anything but an object
/// is refused as `must be a JSON object (got …)`, with no field
/// (`floor::a_body_that_is_not_an_object_is_refused`).
pub fn decode_object<T: DeserializeOwned>(json: &[u8]) -> Result<T, FieldError> {
    let decoded = decode(json);
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_none_or(|&b| b == b'{') {
        return decoded;
    }
    // A body that says in its own words what it must be (a bulk body names its list) keeps
    // them.
    if let Err(error) = &decoded {
        if error.field.is_none() && error.message.starts_with("must be") {
            return decoded;
        }
    }
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(value) => Err(FieldError {
            field: None,
            message: format!("must be a JSON object (got {})", kind_of(&value)),
        }),
        Err(_) => decoded,
    }
}

/// A JSON value as a refusal names what was sent instead of an object.
fn kind_of(value: &serde_json::Value) -> String {
    use super::expect::{Got, Sent};
    let got = match value {
        serde_json::Value::Null => Got::Scalar(Sent::Null),
        serde_json::Value::Bool(b) => Got::Scalar(Sent::Bool(*b)),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Got::Scalar(Sent::Unsigned(u)),
            (None, Some(i)) => Got::Scalar(Sent::Signed(i)),
            _ => Got::Scalar(Sent::Float(n.as_f64().unwrap_or_default())),
        },
        serde_json::Value::String(text) => Got::Scalar(Sent::Text(text)),
        serde_json::Value::Array(_) => Got::List,
        serde_json::Value::Object(_) => Got::Object,
    };
    got.to_string()
}

/// Errors serde_json counts as syntax although the text is valid JSON: a number or a string
/// escape no value can hold. They belong to the field that holds them, like any bad value.
const VALUE_ERRORS: [&str; 3] = [
    "number out of range",
    "lone leading surrogate in hex escape",
    "unexpected end of hex escape",
];

/// serde_json's words for a `\\u` escape of half a surrogate pair without the other half, and
/// what the client is told instead (`valid_json_that_no_value_can_hold_names_its_field`).
const LONE_SURROGATE: [&str; 2] = [
    "lone leading surrogate in hex escape",
    "unexpected end of hex escape",
];
const LONE_SURROGATE_MESSAGE: &str = "holds a \\u escape of half a UTF-16 surrogate pair \
    (\\uD800-\\uDFFF) without its other half, which is no character; send the character \
    itself or both halves of its pair";

/// How an escape no string can hold is reported when it is in a key of the object named.
pub const KEY_ERROR: &str = "an object key holds an escape no string can hold: ";

fn syntax_error(error: serde_json::Error, json: &[u8]) -> FieldError {
    // An ERP writing Latin-1 or Windows-1252 was told of an "invalid unicode code point".
    let utf8 = match error.to_string().starts_with("invalid unicode code point") {
        true => std::str::from_utf8(json).map(drop),
        false => Ok(()),
    };
    if let Err(bad) = utf8 {
        let at = bad.valid_up_to();
        let line = json[..at].iter().filter(|b| **b == b'\n').count() + 1;
        let column = at
            - json[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |n| n + 1)
            + 1;
        return FieldError {
            field: None,
            message: format!(
                "invalid JSON: byte 0x{:02X} is not UTF-8, as JSON must be (text in Latin-1 or \
                 Windows-1252 must be converted) at line {line} column {column}",
                json[at]
            ),
        };
    }
    FieldError {
        field: None,
        message: format!("invalid JSON: {error}"),
    }
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>, json: &[u8]) -> FieldError {
    let path = field_path(error.path());
    let unreadable_key = error.path().iter().any(|s| matches!(s, Segment::Unknown));
    let mut message = strip_position(&error.inner().to_string());
    // A field's own message for a number serde_json cannot hold shows the number as sent.
    if message.contains(TOO_LARGE) {
        if let Some(sent) = sent_at(json, error.path()).filter(|sent| is_too_large(sent)) {
            message = message.replace(TOO_LARGE, sent);
        }
    }
    let inner = error.into_inner();
    if !inner.is_data() {
        if !VALUE_ERRORS.iter().any(|e| message.starts_with(e)) {
            return syntax_error(inner, json);
        }
        if LONE_SURROGATE.iter().any(|e| message.starts_with(e)) {
            LONE_SURROGATE_MESSAGE.clone_into(&mut message);
        }
        if unreadable_key {
            let what = message.strip_prefix("holds ").unwrap_or(&message);
            message = format!("{KEY_ERROR}{what}");
        }
    }
    // serde reports missing and repeated keys against the object that holds them; the user
    // wants the key itself named. (Unknown keys arrive with the key already on the path.)
    let repeated = named_key(&message, "duplicate field `").map(str::to_owned);
    let named_key = named_key(&message, "missing field `").or(repeated.as_deref());
    let field = match named_key {
        Some(key) => {
            let mut field = path.unwrap_or_default();
            push_key(&mut field, key);
            Some(field)
        }
        None => path,
    };
    // serde says "duplicate field" also of a field sent under both of its names
    // (`estimated_time` and `estimated_time_minutes`), each sent once
    // (`repeated_keys_and_names_say_so`).
    if let Some(key) = repeated {
        message = format!(
            "`{key}` is sent more than once in the record (under two of its names counts too); \
             send it once"
        );
    }
    FieldError { field, message }
}

/// Whether `sent` is a JSON number too large for a double, which serde_json refuses to read.
fn is_too_large(sent: &str) -> bool {
    sent.starts_with(|c: char| c == '-' || c.is_ascii_digit())
        && sent.parse::<f64>().is_ok_and(f64::is_infinite)
}

/// The JSON text of the value at `path` in `json`, if it is there: it is what the client sent
/// when serde_json could not read it. Found on the error path only, by a second walk of the
/// document that reads nothing but the path.
fn sent_at<'a>(json: &'a [u8], path: &serde_path_to_error::Path) -> Option<&'a str> {
    let path: Vec<&Segment> = path.iter().collect();
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    At(&path).deserialize(&mut deserializer).ok().flatten()
}

/// Follows a path into a document and takes the raw text it leads to.
struct At<'p>(&'p [&'p Segment]);

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Option<&'de str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match self.0.split_first() {
            None => <&RawValue>::deserialize(deserializer).map(|raw| Some(raw.get())),
            Some((segment, rest)) => deserializer.deserialize_any(Step { segment, rest }),
        }
    }
}

struct Step<'p> {
    segment: &'p Segment,
    rest: &'p [&'p Segment],
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or a list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            match self.segment {
                Segment::Map { key: wanted } if found.is_none() && key == *wanted => {
                    found = map.next_value_seed(At(self.rest))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut index = 0;
        loop {
            let wanted = matches!(self.segment, Segment::Seq { index: wanted } if *wanted == index);
            if wanted {
                match seq.next_element_seed(At(self.rest))? {
                    Some(item) => found = item,
                    None => return Ok(found),
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(found);
            }
            index += 1;
        }
    }
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
    fn repeated_keys_and_names_say_so() {
        let repeated = error_of(r#"{"name":"a","name":"b","items":[]}"#);
        assert_eq!(repeated.field.as_deref(), Some("name"));
        assert!(
            repeated
                .message
                .starts_with("`name` is sent more than once"),
            "{}",
            repeated.message
        );
    }

    #[test]
    fn keys_that_are_not_plain_names_are_quoted_in_the_path() {
        let dotted = error_of(r#"{"name":"a","items":[{"count":1,"a.b":2}]}"#);
        assert_eq!(dotted.field.as_deref(), Some(r#"items[0]["a.b"]"#));
        let empty = error_of(r#"{"name":"a","":2}"#);
        assert_eq!(empty.field.as_deref(), Some(r#"[""]"#));
        let odd = FieldError::new(r#"["x`y"]"#, "m").within("items[0]");
        assert_eq!(odd.field.as_deref(), Some(r#"items[0]["x`y"]"#));
    }

    #[test]
    fn valid_json_that_no_value_can_hold_names_its_field() {
        for value in ["1e400", r#""\ud800""#, r#""\ud800\n""#] {
            let error = error_of(&format!(r#"{{"name":"a","items":[{{"count":{value}}}]}}"#));
            assert_eq!(error.field.as_deref(), Some("items[0].count"), "{error:?}");
            assert!(!error.message.contains("line"), "{error:?}");
            if value.contains("ud800") {
                assert_eq!(error.message, LONE_SURROGATE_MESSAGE);
            }
        }
        let error = error_of(r#"{"name":"a","items":[{"\ud800":1}]}"#);
        assert_eq!(error.field.as_deref(), Some("items[0]"), "{error:?}");
        assert!(error.message.starts_with(KEY_ERROR), "{error:?}");
        assert!(
            error.message.ends_with("both halves of its pair"),
            "{error:?}"
        );
    }

    #[test]
    fn a_number_too_large_to_read_gets_its_fields_message_with_the_number_as_sent() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Counts {
            items: Vec<Count>,
        }

        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Count {
            count: crate::domain::value::Positive,
        }

        let json = r#"{"items":[{"count":1e400},{"count":1}],"items2":5}"#;
        let error = decode::<Counts>(json.as_bytes()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items[0].count"));
        let json = r#"{"items":[{"count":1},{"other":[1e999],"count":-1.5E+400}]}"#;
        let error = decode::<Counts>(json.as_bytes()).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items[1].count"));
        assert_eq!(
            error.message,
            "must be a whole number from 1 to 2147483647 (got -1.5E+400)"
        );
    }

    #[test]
    fn a_body_that_is_not_utf8_says_so() {
        let error = decode::<serde_json::Value>(b"{\"name\":\n \"Caf\xe9\"}").unwrap_err();
        assert_eq!(
            error.message,
            "invalid JSON: byte 0xE9 is not UTF-8, as JSON must be (text in Latin-1 or \
             Windows-1252 must be converted) at line 2 column 6"
        );
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
