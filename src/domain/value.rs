//! Validated field values. Each type can only be built through its checks, so a payload that
//! deserializes into them is valid by construction.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::canonical::CanonicalObject;
use super::expect::{read_scalar, refusal, Expected, Sent};
pub use super::number::{HoursPerDay, Int, NonNegative, Positive, MAX_INT};
use super::schema::Scalar;

/// Largest serialized `metadata` object.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Turns a validated value into the engine-neutral scalar a store writes.
pub trait IntoScalar {
    fn into_scalar(self) -> Scalar;
}

/// Text of `MIN..=MAX` characters. With `MIN > 0` it must also contain more than white space.
/// NUL characters are refused on every text: PostgreSQL cannot store them, and no ERP field
/// legitimately carries one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

impl<const MIN: usize, const MAX: usize> Expected<'_> for Text<MIN, MAX> {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text")
    }

    fn scalar(sent: Sent<'_>) -> Result<Self, String> {
        match sent {
            Sent::Text(text) => Text::try_from(text.to_owned()),
            other => Err(refusal::<Self>(other)),
        }
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Text<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read_scalar(deserializer)
    }
}

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The text, or `None` when it is blank: a terminal that sends `"operator": ""` has no
    /// operator to name, and stores null as one that sends none
    /// (`floor_records::blank_floor_texts_are_stored_as_none`).
    pub fn into_given(self) -> Option<String> {
        (!self.0.trim().is_empty()).then_some(self.0)
    }
}

impl<const MIN: usize, const MAX: usize> IntoScalar for Text<MIN, MAX> {
    fn into_scalar(self) -> Scalar {
        Scalar::Text(self.0)
    }
}

impl IntoScalar for bool {
    fn into_scalar(self) -> Scalar {
        Scalar::Bool(self)
    }
}

/// A display color written `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Color(String);

impl Color {
    fn parse(text: &str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let well_formed = bytes.len() == 7
            && bytes[0] == b'#'
            && bytes[1..].iter().all(|b| b.is_ascii_hexdigit());
        if well_formed {
            Ok(Color(text.to_owned()))
        } else {
            Err(refusal::<Self>(Sent::Text(text)))
        }
    }
}

/// A value sent as text and read by its type's `parse`: from a JSON body (refusing any other
/// kind of value in the API's words) and from a CSV cell alike.
macro_rules! parsed_from_text {
    ($ty:ty, $what:literal, $parse:path) => {
        impl TryFrom<String> for $ty {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                $parse(&text)
            }
        }

        impl Expected<'_> for $ty {
            fn what(f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str($what)
            }

            fn scalar(sent: Sent<'_>) -> Result<Self, String> {
                match sent {
                    Sent::Text(text) => $parse(text),
                    other => Err(refusal::<Self>(other)),
                }
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                read_scalar(deserializer)
            }
        }
    };
}

parsed_from_text!(Color, "a color written #rrggbb", Color::parse);

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
        let (year, month, day) =
            date_shape(text).ok_or_else(|| refusal::<Self>(Sent::Text(text)))?;
        // Written right but not a day of the calendar: saying so beats repeating the format,
        // which the client already follows.
        let missing = if year < 1 {
            // Year 0 exists in neither the Gregorian calendar nor PostgreSQL's date type.
            "the calendar starts at year 1".to_owned()
        } else if day > month.length(year) {
            format!("{month} {year} has {} days", month.length(year))
        } else {
            return Ok(IsoDate(text.to_owned()));
        };
        Err(format!(
            "must be a date that exists; {missing} (got {text:?})"
        ))
    }
}

/// Year, month and day of text shaped `YYYY-MM-DD` with a month from 01 to 12 and a day from
/// 01 to 31; whether that day exists is left to the caller.
fn date_shape(text: &str) -> Option<(i32, time::Month, u8)> {
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
    let month = time::Month::try_from(text[5..7].parse::<u8>().ok()?).ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    (1..=31).contains(&day).then_some((year, month, day))
}

parsed_from_text!(IsoDate, "a date written YYYY-MM-DD", IsoDate::parse);

impl IntoScalar for IsoDate {
    fn into_scalar(self) -> Scalar {
        Scalar::Text(self.0)
    }
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

        impl Expected<'_> for $name {
            fn what(f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "one of {}", [$($text),+].join(", "))
            }

            fn scalar(sent: Sent<'_>) -> Result<Self, String> {
                match sent {
                    $(Sent::Text($text) => Ok($name::$variant),)+
                    other => Err(refusal::<Self>(other)),
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                read_scalar(deserializer)
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
    fn a_well_written_day_the_calendar_lacks_is_not_a_format_error() {
        let message = |text: &str| IsoDate::try_from(text.to_owned()).unwrap_err();
        assert_eq!(
            message("2024-02-30"),
            r#"must be a date that exists; February 2024 has 29 days (got "2024-02-30")"#
        );
        assert_eq!(
            message("2023-04-31"),
            r#"must be a date that exists; April 2023 has 30 days (got "2023-04-31")"#
        );
        assert_eq!(
            message("0000-01-01"),
            r#"must be a date that exists; the calendar starts at year 1 (got "0000-01-01")"#
        );
        for text in [
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-01-32",
            "05/01/2024",
        ] {
            assert_eq!(
                message(text),
                format!("must be a date written YYYY-MM-DD (got {text:?})")
            );
        }
    }

    #[test]
    fn other_json_kinds_get_the_fields_own_message() {
        let message = |json: &str| {
            serde_json::from_str::<IsoDate>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(message("20240501").starts_with("must be a date written YYYY-MM-DD (got 20240501)"));
        let message = |json: &str| serde_json::from_str::<Name>(json).unwrap_err().to_string();
        assert!(message("7").starts_with("must be text (got 7)"));
        assert!(message("[]").starts_with("must be text (got a list)"));
        let message = |json: &str| serde_json::from_str::<Color>(json).unwrap_err().to_string();
        assert!(message("{}").starts_with("must be a color written #rrggbb (got an object)"));
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
}
