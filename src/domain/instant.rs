//! Times clients send (`since`, `updated_since`, a report's `at`): read in this one place for
//! every route, as UTC, and only those both engines can store.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::decode::FieldError;

/// An RFC 3339 time a client sent in `field`, in UTC. Years before 1 are refused: PostgreSQL
/// has no year 0 and answered the query with an error, a 500
/// (`webhooks_rules::nul_texts_and_year_zero_are_refused`); the same time with an offset is
/// judged in UTC (`0001-01-01T00:00:00+01:00` is in year 0).
pub fn parse(field: &str, text: &str) -> Result<OffsetDateTime, FieldError> {
    let not_a_time = || {
        FieldError::new(
            field,
            format!("must be an RFC 3339 time such as 2026-01-15T10:00:00Z (got {text:?})"),
        )
    };
    // A well-written time past 9999 in UTC is told its range, not the format it follows.
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| not_a_time())?
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("must be in year 9999 or earlier, in UTC (got {text:?})"),
            )
        })?;
    if at.year() < 1 {
        return Err(FieldError::new(
            field,
            format!("must be in year 1 or later, in UTC (got {text:?})"),
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_utc_from_year_1() {
        let at = parse("since", "2026-01-15T12:00:00+02:00").unwrap();
        assert_eq!((at.hour(), at.offset()), (10, UtcOffset::UTC));
        assert!(parse("since", "0001-01-01T00:00:00Z").is_ok());
        for bad in [
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "yesterday",
        ] {
            assert_eq!(
                parse("since", bad).unwrap_err().field.as_deref(),
                Some("since")
            );
        }
        let late = parse("since", "9999-12-31T23:59:59-01:00").unwrap_err();
        assert!(
            late.message
                .starts_with("must be in year 9999 or earlier, in UTC"),
            "{late:?}"
        );
    }
}
