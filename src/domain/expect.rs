//! Reading one JSON value of the kind a field expects, and refusing every other kind in the
//! API's words: `must be a whole number from 0 to 10 (got "5")`, never serde's `invalid type:
//! string "5", expected i64`. Each type a payload decodes into says what it must be
//! ([`Expected::what`]) and takes the JSON kinds it can hold; whatever else is sent gets that
//! same sentence, so a wrong type and a wrong value of a field read alike.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use uuid::Uuid;

use super::patch::Patch;

/// A JSON scalar as the request sent it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sent<'a> {
    /// A number without fraction or exponent, ≥ 0.
    Unsigned(u64),
    /// A number without fraction or exponent, < 0.
    Signed(i64),
    /// Any other number: with a fraction or an exponent, `-0`, or beyond 64-bit integers.
    Float(f64),
    Text(&'a str),
    Bool(bool),
    Null,
}

/// What was sent instead of what a field must be, as a refusal shows it.
#[derive(Debug, Clone, Copy)]
pub enum Got<'a> {
    Scalar(Sent<'a>),
    Object,
    List,
    /// A number serde_json cannot hold (beyond ±1.8e308); `decode` puts the sent text in its
    /// place where it can find it.
    TooLarge,
}

/// How a refusal describes a number JSON can write but no field can hold.
pub const TOO_LARGE: &str = "a number too large to read";

/// Sent text longer than this is cut in a refusal, which need not echo a megabyte back.
const SHOWN_CHARS: usize = 60;

impl<'a> From<Sent<'a>> for Got<'a> {
    fn from(sent: Sent<'a>) -> Self {
        Got::Scalar(sent)
    }
}

impl fmt::Display for Got<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Got::Scalar(Sent::Unsigned(n)) => write!(f, "{n}"),
            Got::Scalar(Sent::Signed(n)) => write!(f, "{n}"),
            // As JSON writes it (`1e+300`, not 301 digits); serde_json holds only finite ones.
            Got::Scalar(Sent::Float(n)) => match serde_json::Number::from_f64(n) {
                Some(number) => write!(f, "{number}"),
                None => write!(f, "{n}"),
            },
            Got::Scalar(Sent::Text(text)) => match text.char_indices().nth(SHOWN_CHARS) {
                Some((cut, _)) => write!(f, "{:?}", format!("{}…", &text[..cut])),
                None => write!(f, "{text:?}"),
            },
            Got::Scalar(Sent::Bool(value)) => write!(f, "{value}"),
            Got::Scalar(Sent::Null) => f.write_str("null"),
            Got::Object => f.write_str("an object"),
            Got::List => f.write_str("a list"),
            Got::TooLarge => f.write_str(TOO_LARGE),
        }
    }
}

/// A type a field decodes into, read from the JSON kinds it takes; the kinds it does not take
/// are refused with [`refusal`].
pub trait Expected<'de>: Sized {
    /// What a value must be, completing "must be …": `a whole number from 0 to 10`.
    fn what(f: &mut fmt::Formatter) -> fmt::Result;

    fn scalar(sent: Sent<'_>) -> Result<Self, String> {
        Err(refusal::<Self>(sent))
    }

    fn object<A: MapAccess<'de>>(_map: A) -> Result<Self, A::Error> {
        Err(de::Error::custom(refusal::<Self>(Got::Object)))
    }

    fn list<A: SeqAccess<'de>>(_seq: A) -> Result<Self, A::Error> {
        Err(de::Error::custom(refusal::<Self>(Got::List)))
    }
}

/// `must be <what T is> (got <what was sent>)`.
pub fn refusal<'a, 'de, T: Expected<'de>>(got: impl Into<Got<'a>>) -> String {
    format!("must be {} (got {})", What::<T>(PhantomData), got.into())
}

struct What<T>(PhantomData<fn() -> T>);

impl<'de, T: Expected<'de>> fmt::Display for What<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        T::what(f)
    }
}

/// Reads a value that may be an object or a list (or anything else `T` takes).
pub fn read<'de, D: Deserializer<'de>, T: Expected<'de>>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_any(Visit::<T>(PhantomData))
}

/// Reads a value `T` takes only as a scalar. A number serde_json cannot hold fails before any
/// visit, as its syntax error; read as a scalar, that number can only be the value itself, so it
/// is refused like any other number out of range. (In an object or a list it may be anywhere
/// inside, which is why [`read`] leaves it alone.)
pub fn read_scalar<'de, D: Deserializer<'de>, T: Expected<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    read(deserializer).map_err(too_large::<T, D::Error>)
}

/// `error`, or the refusal of a number too large to read if that is what it reports. Kept out
/// of line: reading a valid value never comes here.
#[cold]
#[inline(never)]
fn too_large<'de, T: Expected<'de>, E: de::Error>(error: E) -> E {
    if error.to_string().starts_with("number out of range") {
        E::custom(refusal::<T>(Got::TooLarge))
    } else {
        error
    }
}

struct Visit<T>(PhantomData<fn() -> T>);

impl<'de, T: Expected<'de>> Visitor<'de> for Visit<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        T::what(f)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<T, E> {
        T::scalar(Sent::Bool(value)).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::scalar(Sent::Signed(value)).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        T::scalar(Sent::Unsigned(value)).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        T::scalar(Sent::Float(value)).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        T::scalar(Sent::Text(value)).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        T::scalar(Sent::Null).map_err(E::custom)
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        T::scalar(Sent::Null).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::list(seq)
    }
}

/// A list of records, e.g. a job's `parts` or a bulk body's array.
pub struct List<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Expected<'de> for List<T> {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of records")
    }

    fn list<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(List(items))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read(deserializer)
    }
}

/// For `#[serde(deserialize_with)]` on a `Vec` of records.
pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    List::deserialize(deserializer).map(|List(items)| items)
}

/// For `#[serde(default, deserialize_with)]` on an `Option<Vec>` of records: `None` when the
/// key is left out, which `children=replace` tells from an empty list.
pub fn listed<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Vec<T>>, D::Error> {
    list(deserializer).map(Some)
}

/// For `#[serde(default, deserialize_with)]` on an `Option` that may be left out but not
/// sent as `null`: the value's own refusal names what it must be (`must be text (got null)`)
/// where a `None` was later told apart as "missing" (`values::a_wrong_kind_of_value_is_refused_in_the_fields_own_words`).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// `true` or `false`.
struct Flag(bool);

impl Expected<'_> for Flag {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("true or false")
    }

    fn scalar(sent: Sent<'_>) -> Result<Self, String> {
        match sent {
            Sent::Bool(value) => Ok(Flag(value)),
            other => Err(refusal::<Self>(other)),
        }
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read_scalar(deserializer)
    }
}

/// For `#[serde(deserialize_with)]` on a `Patch<bool>`.
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Patch<bool>, D::Error> {
    Patch::<Flag>::deserialize(deserializer).map(|patch| patch.map_into(|Flag(value)| value))
}

/// For `#[serde(default, deserialize_with)]` on an `Option<bool>` that `null` leaves unset.
pub fn optional_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Option::<Flag>::deserialize(deserializer).map(|flag| flag.map(|Flag(value)| value))
}

/// Text of any length, for fields whose own checks follow (a webhook's URL, its description):
/// a wrong kind is refused as every text field refuses it (`must be text (got 5)`), not in
/// serde's words (`webhooks_rules::bodies_are_refused_in_the_apis_words`).
type AnyText = super::value::Text<0, { usize::MAX }>;

/// For `#[serde(deserialize_with)]` on a `String`.
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    AnyText::deserialize(deserializer).map(AnyText::into_string)
}

/// For `#[serde(default, deserialize_with)]` on an `Option<String>` that `null` leaves unset.
pub fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Option::<AnyText>::deserialize(deserializer).map(|text| text.map(AnyText::into_string))
}

/// For `#[serde(default, deserialize_with)]` on a `Patch<String>`.
pub fn patch_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Patch<String>, D::Error> {
    Patch::<AnyText>::deserialize(deserializer).map(|patch| patch.map_into(AnyText::into_string))
}

/// A list of texts, such as a webhook's event types.
struct Texts(Vec<String>);

impl<'de> Expected<'de> for Texts {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of texts")
    }

    fn list<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<AnyText>()? {
            items.push(item.into_string());
        }
        Ok(Texts(items))
    }
}

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read(deserializer)
    }
}

/// For `#[serde(default, deserialize_with)]` on an `Option<Vec<String>>`.
pub fn optional_texts<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    Option::<Texts>::deserialize(deserializer).map(|texts| texts.map(|Texts(items)| items))
}

/// For `#[serde(default, deserialize_with)]` on a `Patch<Vec<String>>`.
pub fn patch_texts<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Patch<Vec<String>>, D::Error> {
    Patch::<Texts>::deserialize(deserializer).map(|patch| patch.map_into(|Texts(items)| items))
}

/// One of our ids, which clients of Eryxon's hosted API send.
struct Id(Uuid);

impl Expected<'_> for Id {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a UUID")
    }

    fn scalar(sent: Sent<'_>) -> Result<Self, String> {
        match sent {
            Sent::Text(text) => Uuid::parse_str(text)
                .map(Id)
                .map_err(|_| refusal::<Self>(sent)),
            other => Err(refusal::<Self>(other)),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read_scalar(deserializer)
    }
}

/// For `#[serde(deserialize_with)]` on an `Option<Uuid>`.
pub fn optional_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Uuid>, D::Error> {
    Option::<Id>::deserialize(deserializer).map(|id| id.map(|Id(id)| id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Probe {
        #[serde(default, deserialize_with = "flag")]
        active: Patch<bool>,
        #[serde(default, deserialize_with = "optional_id")]
        id: Option<Uuid>,
        #[serde(default, deserialize_with = "list")]
        items: Vec<u8>,
    }

    fn message(json: &str) -> String {
        serde_json::from_str::<Probe>(json).unwrap_err().to_string()
    }

    #[test]
    fn other_kinds_are_refused_in_the_fields_words() {
        let cases = [
            (
                r#"{"active":"yes"}"#,
                r#"must be true or false (got "yes")"#,
            ),
            (r#"{"active":1}"#, "must be true or false (got 1)"),
            (r#"{"active":[true]}"#, "must be true or false (got a list)"),
            (r#"{"id":"x"}"#, r#"must be a UUID (got "x")"#),
            (r#"{"id":{}}"#, "must be a UUID (got an object)"),
            (
                r#"{"items":{"a":1}}"#,
                "must be a list of records (got an object)",
            ),
            (
                r#"{"items":"ab"}"#,
                r#"must be a list of records (got "ab")"#,
            ),
            (
                r#"{"active":1e400}"#,
                "must be true or false (got a number too large to read)",
            ),
        ];
        for (json, expected) in cases {
            let message = message(json);
            assert!(message.starts_with(expected), "{json}: {message}");
        }
    }

    #[test]
    fn what_the_kinds_hold_is_read() {
        let probe: Probe =
            serde_json::from_str(r#"{"active":false,"id":null,"items":[1,2]}"#).unwrap();
        assert_eq!(probe.active, Patch::Value(false));
        assert_eq!(probe.id, None);
        assert_eq!(probe.items, vec![1, 2]);
        let probe: Probe =
            serde_json::from_str(r#"{"active":null,"id":"3f2b8c1e-7d4a-4e2b-9c61-0a5f7e2d9b10"}"#)
                .unwrap();
        assert_eq!(probe.active, Patch::Null);
        assert!(probe.id.is_some());
    }

    #[test]
    fn long_text_is_cut_and_numbers_are_written_as_json_writes_them() {
        let long = "é".repeat(100);
        let shown = Got::from(Sent::Text(&long)).to_string();
        assert_eq!(shown.chars().count(), SHOWN_CHARS + 3, "{shown}");
        assert!(shown.ends_with("…\""), "{shown}");
        assert_eq!(Got::from(Sent::Float(1e300)).to_string(), "1e+300");
        assert_eq!(Got::from(Sent::Float(5.5)).to_string(), "5.5");
        assert_eq!(Got::from(Sent::Signed(-3)).to_string(), "-3");
    }
}
