//! Numeric fields. JSON has one number type, and serializers write a whole number as `5`,
//! `5.0`, `5e0` or `500e-2` (JavaScript with decimals, .NET decimals, ERP middleware): a whole
//! number field takes any number whose value is whole, and a real fraction is refused with the
//! field's own range message.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::expect::{read_scalar, refusal, Expected, Sent};
use super::schema::Scalar;
use super::value::IntoScalar;

/// Largest integer every store engine holds in its native integer column.
pub const MAX_INT: i64 = i32::MAX as i64;

/// Below this magnitude every whole number is exactly a double; above it a double stands for
/// several integers. No field's range reaches it, so what lies beyond is simply out of range.
const EXACT_IN_A_DOUBLE: f64 = 9_007_199_254_740_992.0; // 2^53

/// A whole number in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int<const MIN: i64, const MAX: i64>(i64);

pub type NonNegative = Int<0, MAX_INT>;
pub type Positive = Int<1, MAX_INT>;

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    /// The number, within `MIN..=MAX`.
    pub fn get(self) -> i64 {
        self.0
    }

    fn checked(value: Option<i64>, sent: Sent<'_>) -> Result<Self, String> {
        match value {
            Some(value) if (MIN..=MAX).contains(&value) => Ok(Int(value)),
            _ => Err(refusal::<Self>(sent)),
        }
    }
}

/// The integer a JSON number stands for, if it is whole. A number with a fraction or an
/// exponent arrives as a double, read as JavaScript reads it (`Number.isInteger`): `5.0`,
/// `1e2` and `-0` are whole, `5.5` is not.
fn whole(sent: Sent<'_>) -> Option<i64> {
    match sent {
        // Plain integers, the common case, take no float arithmetic.
        Sent::Unsigned(n) => i64::try_from(n).ok(),
        Sent::Signed(n) => Some(n),
        // `as` turns -0.0 into 0; the bound keeps the conversion exact.
        Sent::Float(n) if n.fract() == 0.0 && n.abs() <= EXACT_IN_A_DOUBLE => Some(n as i64),
        _ => None,
    }
}

impl<const MIN: i64, const MAX: i64> TryFrom<i64> for Int<MIN, MAX> {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, String> {
        Int::checked(Some(value), Sent::Signed(value))
    }
}

impl<const MIN: i64, const MAX: i64> Expected<'_> for Int<MIN, MAX> {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a whole number from {MIN} to {MAX}")
    }

    fn scalar(sent: Sent<'_>) -> Result<Self, String> {
        Int::checked(whole(sent), sent)
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read_scalar(deserializer)
    }
}

impl<const MIN: i64, const MAX: i64> IntoScalar for Int<MIN, MAX> {
    fn into_scalar(self) -> Scalar {
        Scalar::Int(self.0)
    }
}

/// Planned capacity of a cell in hours per day: a number from 0 to 24.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoursPerDay(f64);

impl TryFrom<f64> for HoursPerDay {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, String> {
        if (0.0..=24.0).contains(&value) {
            // -0.0 is stored as 0, the value the client meant.
            Ok(HoursPerDay(value + 0.0))
        } else {
            Err(refusal::<Self>(Sent::Float(value)))
        }
    }
}

impl Expected<'_> for HoursPerDay {
    fn what(f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number from 0 to 24")
    }

    fn scalar(sent: Sent<'_>) -> Result<Self, String> {
        let value = match sent {
            Sent::Unsigned(n) => n as f64,
            Sent::Signed(n) => n as f64,
            Sent::Float(n) => n,
            other => return Err(refusal::<Self>(other)),
        };
        HoursPerDay::try_from(value).map_err(|_| refusal::<Self>(sent))
    }
}

impl<'de> Deserialize<'de> for HoursPerDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read_scalar(deserializer)
    }
}

impl IntoScalar for HoursPerDay {
    fn into_scalar(self) -> Scalar {
        Scalar::Real(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positive(json: &str) -> Result<i64, String> {
        serde_json::from_str::<Positive>(json)
            .map(|Int(n)| n)
            .map_err(|e| e.to_string())
    }

    fn non_negative(json: &str) -> Result<i64, String> {
        serde_json::from_str::<NonNegative>(json)
            .map(|Int(n)| n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integers_must_be_in_range() {
        assert!(Positive::try_from(0).is_err());
        assert!(Positive::try_from(1).is_ok());
        assert!(NonNegative::try_from(-1).is_err());
        assert!(NonNegative::try_from(MAX_INT + 1).is_err());
    }

    #[test]
    fn any_number_whose_value_is_whole_is_taken() {
        for (json, value) in [
            ("5", 5),
            ("5.0", 5),
            ("1e2", 100),
            ("1E+2", 100),
            ("100e-2", 1),
            ("0.5e1", 5),
            ("0.1e1", 1),
            ("2147483647", MAX_INT),
            ("2147483647.0", MAX_INT),
            ("2.147483647e9", MAX_INT),
        ] {
            assert_eq!(positive(json), Ok(value), "{json}");
        }
        for json in ["-0", "-0.0", "0e5", "0.0"] {
            assert_eq!(non_negative(json), Ok(0), "{json}");
        }
    }

    #[test]
    fn fractions_and_out_of_range_numbers_get_the_range_message() {
        for (json, got) in [
            ("5.5", "5.5"),
            ("0", "0"),
            ("-0", "-0.0"),
            ("1e-2", "0.01"),
            ("2147483648", "2147483648"),
            ("2147483647.5", "2147483647.5"),
            ("-1", "-1"),
            ("18446744073709551615", "18446744073709551615"),
            ("99999999999999999999", "1e+20"),
            ("1e400", "a number too large to read"),
            ("-1e400", "a number too large to read"),
        ] {
            let message = positive(json).unwrap_err();
            let expected = format!("must be a whole number from 1 to 2147483647 (got {got})");
            assert!(message.starts_with(&expected), "{json}: {message}");
        }
    }

    #[test]
    fn other_kinds_are_refused_with_the_range_message() {
        for (json, got) in [
            (r#""5""#, r#""5""#),
            ("true", "true"),
            ("null", "null"),
            ("[5]", "a list"),
            (r#"{"value":5}"#, "an object"),
        ] {
            let message = positive(json).unwrap_err();
            let expected = format!("must be a whole number from 1 to 2147483647 (got {got})");
            assert!(message.starts_with(&expected), "{json}: {message}");
        }
    }

    #[test]
    fn capacity_is_a_real_number_bounded_to_a_day() {
        assert!(HoursPerDay::try_from(8.5).is_ok());
        assert!(HoursPerDay::try_from(-0.5).is_err());
        assert!(HoursPerDay::try_from(24.5).is_err());
        for (json, hours) in [("8", 8.0), ("7.5", 7.5), ("24", 24.0), ("2.4e1", 24.0)] {
            let HoursPerDay(read) = serde_json::from_str(json).unwrap();
            assert_eq!(read, hours, "{json}");
        }
        let HoursPerDay(zero) = serde_json::from_str("-0").unwrap();
        assert!(zero.is_sign_positive());
        for (json, got) in [("24.5", "24.5"), ("-1", "-1"), (r#""8""#, r#""8""#)] {
            let message = serde_json::from_str::<HoursPerDay>(json)
                .unwrap_err()
                .to_string();
            let expected = format!("must be a number from 0 to 24 (got {got})");
            assert!(message.starts_with(&expected), "{json}: {message}");
        }
    }
}
