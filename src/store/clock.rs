//! Times as the store keeps them: UTC text with microseconds and a fixed width, so that text
//! order is time order on both engines.

/// Now, as stored.
pub fn timestamp() -> String {
    timestamp_of(time::OffsetDateTime::now_utc())
}

/// A stored timestamp `minutes` before now.
pub fn minutes_ago(minutes: i64) -> String {
    timestamp_of(time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
}

/// A time as stored.
pub fn timestamp_of(at: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    at.format(FORMAT).expect("a UTC timestamp always formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_a_fixed_width() {
        let at = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        assert_eq!(timestamp_of(at), "2024-01-02T03:04:05.000000Z");
        assert_eq!(timestamp().len(), 27);
    }
}
