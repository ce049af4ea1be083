//! Validated field values. Each type can only be built through its checks, so a payload that
//! deserializes into them is valid by construction.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::canonical::CanonicalObject;
use super::schema::Scalar;

/// Largest integer every store engine holds in its native integer column.
pub const MAX_INT: i64 = i32::MAX as i64;
/// Largest serialized `metadata` object.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Turns a validated value into the engine-neutral scalar a store writes.
pub trait IntoScalar {
    fn into_scalar(self) -> Scalar;
}

/// Text of `MIN..=MAX` characters. With `MIN > 0` it must also contain more than white space.
/// NUL characters are refused on every text: PostgreSQL cannot store them, and no ERP field
/// legitimately carries one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Text<const MIN: usize, const MAX: usize>(String);

/// An identifier or name: required, at most 255 characters.
pub type Name = Text<1, 255>;
/// The ERP system a record comes from (`SAP`, `NetSuite`, …).
pub type Source = Text<1, 100>;
/// Free text such as notes or descriptions.
pub type LongText = Text<0, 10_000>;
/// Short optional text such as a customer or a material.
pub type ShortText = Text<0, 255>;

impl<const MIN: usize, const MAX: usize> TryFrom<String> for Text<MIN, MAX> {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let chars = text.chars().count();
        if text.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        if chars > MAX {
            return Err(format!("must be at most {MAX} characters (got {chars})"));
        }
        if MIN > 0 && text.trim().is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Text(text))
    }
}

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MIN: usize, const MAX: usize> IntoScalar for Text<MIN, MAX> {
    fn into_scalar(self) -> Scalar {
        Scalar::Text(self.0)
    }
}

/// An integer in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Int<const MIN: i64, const MAX: i64>(i64);

pub type NonNegative = Int<0, MAX_INT>;
pub type Positive = Int<1, MAX_INT>;

impl<const MIN: i64, const MAX: i64> TryFrom<i64> for Int<MIN, MAX> {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, String> {
        if (MIN..=MAX).contains(&value) {
            Ok(Int(value))
        } else {
            Err(format!(
                "must be an integer from {MIN} to {MAX} (got {value})"
            ))
        }
    }
}

impl<const MIN: i64, const MAX: i64> IntoScalar for Int<MIN, MAX> {
    fn into_scalar(self) -> Scalar {
        Scalar::Int(self.0)
    }
}

impl IntoScalar for bool {
    fn into_scalar(self) -> Scalar {
        Scalar::Bool(self)
    }
}

/// Planned capacity of a cell in hours per day: a number from 0 to 24.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct HoursPerDay(f64);

impl TryFrom<f64> for HoursPerDay {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, String> {
        if (0.0..=24.0).contains(&value) {
            Ok(HoursPerDay(value))
        } else {
            Err(format!("must be a number from 0 to 24 (got {value})"))
        }
    }
}

impl IntoScalar for HoursPerDay {
    fn into_scalar(self) -> Scalar {
        Scalar::Real(self.0)
    }
}

/// A display color written `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Color(String);

impl TryFrom<String> for Color {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let well_formed = bytes.len() == 7
            && bytes[0] == b'#'
            && bytes[1..].iter().all(|b| b.is_ascii_hexdigit());
        if well_formed {
            Ok(Color(text))
        } else {
            Err(format!("must be a color written #rrggbb (got {text:?})"))
        }
    }
}

impl IntoScalar for Color {
    fn into_scalar(self) -> Scalar {
        Scalar::Text(self.0)
    }
}

/// A calendar date written `YYYY-MM-DD`, kept as that text (which is its canonical form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoDate(String);

impl IsoDate {
    fn parse(text: &str) -> Result<Self, String> {
        match parse_iso_date(text) {
            Some(_) => Ok(IsoDate(text.to_owned())),
            None => Err(format!("must be a date written YYYY-MM-DD (got {text:?})")),
        }
    }
}

impl TryFrom<String> for IsoDate {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        IsoDate::parse(&text)
    }
}

impl<'de> Deserialize<'de> for IsoDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_str(deserializer, IsoDate::parse)
    }
}

fn parse_iso_date(text: &str) -> Option<time::Date> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| bytes[i].is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    // Year 0 exists in neither the Gregorian calendar nor PostgreSQL's date type.
    if year < 1 {
        return None;
    }
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

impl IntoScalar for IsoDate {
    fn into_scalar(self) -> Scalar {
        Scalar::Text(self.0)
    }
}

/// Parses a value from a JSON string, read without a copy where the input allows. Taking a
/// string (rather than any JSON) makes a value of another JSON type a data error on its field:
/// serde_json reports it as a syntax error otherwise.
fn parse_str<'de, D, T>(
    deserializer: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Parse<T>(fn(&str) -> Result<T, String>);

    impl<T> Visitor<'_> for Parse<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.0)(text).map_err(E::custom)
        }
    }

    deserializer.deserialize_str(Parse(parse))
}

/// Free-form ERP data kept beside the record: a JSON object, stored in canonical form (sorted
/// keys) so that re-sending the same object is recognised as unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "CanonicalObject")]
pub struct Metadata(String);

impl TryFrom<CanonicalObject> for Metadata {
    type Error = String;

    fn try_from(object: CanonicalObject) -> Result<Self, String> {
        if object.has_nul {
            return Err("must not contain NUL characters".into());
        }
        let text = object.text;
        if text.len() > MAX_METADATA_BYTES {
            return Err(format!(
                "must be at most {MAX_METADATA_BYTES} bytes of JSON (got {})",
                text.len()
            ));
        }
        Ok(Metadata(text))
    }
}

impl IntoScalar for Metadata {
    fn into_scalar(self) -> Scalar {
        Scalar::Text(self.0)
    }
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every value, in declaration order, for documentation and checks.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $name {
            fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "must be one of {} (got {other:?})",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                parse_str(deserializer, $name::parse)
            }
        }

        impl IntoScalar for $name {
            fn into_scalar(self) -> Scalar {
                Scalar::Text(self.as_str().to_owned())
            }
        }
    };
}

text_enum!(
    /// Progress of a job, part or operation.
    WorkStatus {
        NotStarted => "not_started",
        InProgress => "in_progress",
        Completed => "completed",
        OnHold => "on_hold",
    }
);

text_enum!(
    /// What a job sync does with stored parts and operations its payload leaves out: `merge`
    /// keeps them (a payload may carry only what changed), `replace` deletes them (the payload
    /// is the job's whole routing).
    Children {
        Merge => "merge",
        Replace => "replace",
    }
);

text_enum!(
    /// What kind of thing a resource is.
    ResourceType {
        Tooling => "tooling",
        Fixture => "fixture",
        Mold => "mold",
        Material => "material",
        Equipment => "equipment",
    }
);

text_enum!(
    /// Whether a resource can be used now.
    ResourceStatus {
        Available => "available",
        InUse => "in_use",
        Maintenance => "maintenance",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_are_enforced_in_characters() {
        assert!(Name::try_from("é".repeat(255)).is_ok());
        assert!(Name::try_from("é".repeat(256)).is_err());
        assert!(Name::try_from("   ".to_owned()).is_err());
        assert!(LongText::try_from(String::new()).is_ok());
        assert!(LongText::try_from("a\0b".to_owned()).is_err());
    }

    #[test]
    fn integers_must_be_in_range() {
        assert!(Positive::try_from(0).is_err());
        assert!(Positive::try_from(1).is_ok());
        assert!(NonNegative::try_from(-1).is_err());
        assert!(NonNegative::try_from(MAX_INT + 1).is_err());
    }

    #[test]
    fn dates_must_be_real_calendar_days() {
        assert!(IsoDate::try_from("2024-12-31".to_owned()).is_ok());
        assert!(IsoDate::try_from("2024-02-29".to_owned()).is_ok());
        assert!(IsoDate::try_from("2023-02-29".to_owned()).is_err());
        assert!(IsoDate::try_from("2024-1-31".to_owned()).is_err());
        assert!(IsoDate::try_from("31-12-2024".to_owned()).is_err());
        assert!(IsoDate::try_from("+2024-12-31".to_owned()).is_err());
        assert!(IsoDate::try_from("0000-01-01".to_owned()).is_err());
        assert_eq!(
            IsoDate::try_from("0999-01-02".to_owned())
                .unwrap()
                .into_scalar(),
            Scalar::Text("0999-01-02".into())
        );
    }

    #[test]
    fn colors_are_hash_and_six_hex_digits() {
        assert!(Color::try_from("#3b82f6".to_owned()).is_ok());
        assert!(Color::try_from("#3B82F6".to_owned()).is_ok());
        assert!(Color::try_from("3b82f6".to_owned()).is_err());
        assert!(Color::try_from("#3b82f".to_owned()).is_err());
        assert!(Color::try_from("#3b82fg".to_owned()).is_err());
    }

    #[test]
    fn metadata_is_canonical_so_resends_compare_equal() {
        let a: Metadata = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":1}}"#).unwrap();
        let b: Metadata = serde_json::from_str(r#"{"a":{"x":1,"y":2},"b":1}"#).unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<Metadata>(r#"[1]"#).is_err());
        assert!(serde_json::from_str::<Metadata>(r#"{"a":"\u0000"}"#).is_err());
    }

    #[test]
    fn enums_name_their_values_and_refuse_other_types() {
        assert_eq!(
            serde_json::from_str::<WorkStatus>(r#""on_hold""#).unwrap(),
            WorkStatus::OnHold
        );
        let error = serde_json::from_str::<WorkStatus>(r#""done""#).unwrap_err();
        assert!(error
            .to_string()
            .contains("not_started, in_progress, completed, on_hold"));
        let error = serde_json::from_str::<WorkStatus>("true").unwrap_err();
        assert!(error.is_data(), "{error}");
    }

    #[test]
    fn capacity_is_bounded_to_a_day() {
        assert!(HoursPerDay::try_from(8.5).is_ok());
        assert!(HoursPerDay::try_from(-0.5).is_err());
        assert!(HoursPerDay::try_from(24.5).is_err());
    }
}
