//! Canonical JSON text (object keys sorted, later duplicates winning, no white space, whole
//! numbers as integers) written while the value is parsed. It is the text `serde_json::Value`
//! prints for the same input once its whole numbers are integers, without building the tree
//! first: through a `Value`, `metadata` took a quarter of the time spent decoding a job.
//!
//! Whole numbers are integers so that `1.0` and `1` are one value on both engines
//! (PostgreSQL's `jsonb` compares them equal, SQLite's text would not), and a whole number
//! the parser could only read as an approximating double is refused: an integer beyond 64
//! bits, or one past 2^53 written with a fraction or an exponent (`metadata::metadata_numbers_are_kept_exactly_or_refused`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

use super::expect::{read, Expected};

/// A JSON object in canonical form, and whether any key or string in it holds a NUL.
pub struct CanonicalObject {
    pub text: String,
    pub has_nul: bool,
}

impl<'de> serde::Deserialize<'de> for CanonicalObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read(deserializer)
    }
}

impl<'de> Expected<'de> for CanonicalObject {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut out = Vec::new();
        let mut has_nul = false;
        Canon::writing(&mut out, &mut has_nul).visit_map(map)?;
        let text = String::from_utf8(out).map_err(de::Error::custom)?;
        Ok(CanonicalObject { text, has_nul })
    }
}

/// The deepest a `metadata` object nests (itself one level). What the server takes it must
/// hand back: a record's metadata sits up to 9 levels deep in a page or an event (a list of
/// jobs with their operations), and a page past the 128 levels most JSON readers take (the
/// server's own body limit, serde_json's default) would stop a reader from reaching its
/// `next_cursor` (`metadata::metadata_nests_at_most_64_levels`).
pub const MAX_METADATA_DEPTH: usize = 64;

/// Writes the value it reads to `out`, canonically.
struct Canon<'a> {
    out: &'a mut Vec<u8>,
    has_nul: &'a mut bool,
    /// The nesting of the value read: 1 for the object itself.
    depth: usize,
}

impl Canon<'_> {
    fn writing<'b>(out: &'b mut Vec<u8>, has_nul: &'b mut bool) -> Canon<'b> {
        Canon {
            out,
            has_nul,
            depth: 1,
        }
    }

    /// A reader of a value nested in this one.
    fn inner<'b>(out: &'b mut Vec<u8>, has_nul: &'b mut bool, depth: usize) -> Canon<'b> {
        Canon {
            out,
            has_nul,
            depth: depth + 1,
        }
    }

    /// Refuses an array or object nested past [`MAX_METADATA_DEPTH`].
    fn may_nest<E: de::Error>(&self) -> Result<(), E> {
        if self.depth > MAX_METADATA_DEPTH {
            return Err(E::custom(format_args!(
                "nests deeper than {MAX_METADATA_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn write<T: Serialize + ?Sized, E: de::Error>(self, value: &T) -> Result<(), E> {
        serde_json::to_writer(&mut *self.out, value).map_err(E::custom)
    }
}

impl<'de> DeserializeSeed<'de> for Canon<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canon<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        self.write(&value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.write(&value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.write(&value)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        if value.fract() != 0.0 {
            return self.write(&value);
        }
        // Below 2^53 every whole double is the number written; from it on a double may be a
        // neighbour of the number sent (`9007199254740993.0` reads as 2^53, and so on; an
        // integer literal past 64 bits is read as a double too).
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if value.abs() < EXACT {
            return self.write(&(value as i64));
        }
        Err(E::custom(format_args!(
            "holds the number {value:e}, which would be kept only approximately (integers \
             written in digits are exact up to 64 bits, numbers with a fraction or an exponent \
             below 2^53); send it as a string"
        )))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        *self.has_nul |= value.contains('\0');
        self.write(value)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.may_nest()?;
        self.out.push(b'[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            let inner = Canon::inner(self.out, self.has_nul, self.depth);
            if seq.next_element_seed(inner)?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.may_nest()?;
        // Values are written to one scratch buffer; the entries name their slices of it.
        let mut scratch = Vec::new();
        let mut entries: Vec<(Cow<'de, str>, std::ops::Range<usize>)> = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            *self.has_nul |= key.contains('\0');
            let start = scratch.len();
            map.next_value_seed(Canon::inner(&mut scratch, self.has_nul, self.depth))?;
            entries.push((key, start..scratch.len()));
        }
        // Stable, so that of equal keys the one sent last is the last of its run.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.out.push(b'{');
        let mut first = true;
        for (i, (key, range)) in entries.iter().enumerate() {
            if entries.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut *self.out, key.as_ref()).map_err(de::Error::custom)?;
            self.out.push(b':');
            self.out.extend_from_slice(&scratch[range.clone()]);
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// An object key, borrowed from the input when it holds no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn canonical(json: &str) -> Result<String, String> {
        serde_json::from_str::<CanonicalObject>(json)
            .map(|c| c.text)
            .map_err(|e| e.to_string())
    }

    /// What `serde_json::Value` prints, with whole numbers as integers.
    fn through_value(json: &str) -> Result<String, String> {
        fn whole(value: &mut Value) {
            match value {
                Value::Number(n) if n.as_f64().is_some_and(|f| n.is_f64() && f.fract() == 0.0) => {
                    *value = Value::from(n.as_f64().unwrap() as i64);
                }
                Value::Array(items) => items.iter_mut().for_each(whole),
                Value::Object(map) => map.values_mut().for_each(whole),
                _ => {}
            }
        }
        serde_json::from_str::<serde_json::Map<String, Value>>(json)
            .map(|m| {
                let mut value = Value::Object(m);
                whole(&mut value);
                value.to_string()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn prints_what_a_value_prints() {
        for json in [
            r#"{}"#,
            r#"{"b":1,"a":{"y":[2,{"q":null,"p":true}],"x":-1.50}}"#,
            r#" { "z" : "é\n\"\\\u00e9\ud83d\ude00" , "a\u0041" : [ ] , "m" : 1e3 } "#,
            r#"{"k":1,"k":2,"j":0,"k":3}"#,
            r#"{"n":-0,"f":0.1,"g":-0.0,"big":18446744073709551615,"small":-9223372036854775808}"#,
            r#"{"w":1.0,"e":2e3,"x":-5.0E0,"near":9007199254740991.0,"low":-9.007199254740991e15}"#,
            r#"{"nested":[[[]],[{}],[{"b":{"d":1,"c":2}}]]}"#,
            r#"{"é":1,"e":2,"E":3,"ä":4,"z\u0000":"\u0000"}"#,
        ] {
            assert_eq!(canonical(json), through_value(json), "{json}");
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                // Whole numbers beyond 2^53 are refused (below); the rest print alike.
                .prop_map(|f| if f.fract() == 0.0 && f.abs() > 9.0e15 {
                    0.5
                } else {
                    f
                })
                .prop_map(Value::from),
            "[a-c\\\"\u{0}-\u{1f}é😀]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::vec(("[a-cé\\u{0}]{0,2}", inner), 0..6).prop_map(|entries| {
                    let body: Vec<String> = entries
                        .iter()
                        .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), render(v)))
                        .collect();
                    // Raw text, so that repeated keys reach the parser.
                    Value::String(format!("{{{}}}", body.join(",")))
                }),
            ]
        })
    }

    /// `any_json` writes objects as their raw text in a string; this puts them back in place.
    fn render(value: &Value) -> String {
        match value {
            Value::String(text) if text.starts_with('{') => text.clone(),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(render).collect();
                format!("[{}]", items.join(", "))
            }
            other => other.to_string(),
        }
    }

    proptest! {
        #[test]
        fn prints_what_a_value_prints_for_any_object(
            entries in prop::collection::vec(("[a-d]{0,2}", any_json()), 0..8)
        ) {
            let body: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), render(v)))
                .collect();
            let json = format!("{{ {} }}", body.join(" ,"));
            prop_assert_eq!(canonical(&json), through_value(&json), "{}", json);
        }
    }

    #[test]
    fn refuses_other_kinds_as_not_an_object_and_bad_json_as_a_map_does() {
        for (json, got) in [
            ("[1]", "a list"),
            ("1", "1"),
            ("\"a\"", "\"a\""),
            ("true", "true"),
            ("null", "null"),
        ] {
            let message = canonical(json).unwrap_err();
            let expected = format!("must be a JSON object (got {got})");
            assert!(message.starts_with(&expected), "{json}: {message}");
        }
        for json in ["{\"a\":}", "{\"a\":1", "{\"a\":1e400}"] {
            assert_eq!(canonical(json), through_value(json), "{json}");
        }
    }

    #[test]
    fn refuses_whole_numbers_a_double_only_approximates() {
        for json in [
            r#"{"id":123456789012345678901}"#,
            r#"{"a":[{"b":18446744073709551616}]}"#,
            r#"{"e":1e19}"#,
            r#"{"n":-9223372036854775809}"#,
            r#"{"k":123456789012345678.0}"#,
            r#"{"k":9007199254740993.0}"#,
        ] {
            let message = canonical(json).unwrap_err();
            assert!(message.contains("send it as a string"), "{json}: {message}");
        }
        assert_eq!(canonical(r#"{"f":1.5e-300}"#).unwrap(), r#"{"f":1.5e-300}"#);
    }

    #[test]
    fn notes_nul_characters_anywhere() {
        let nul = |json: &str| {
            serde_json::from_str::<CanonicalObject>(json)
                .unwrap()
                .has_nul
        };
        assert!(nul(r#"{"a":["\u0000"]}"#));
        assert!(nul(r#"{"\u0000":1}"#));
        assert!(!nul(r#"{"a":["\\u0000"]}"#));
    }
}
