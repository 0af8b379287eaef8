//! Instants as the contract renders them: RFC 3339 strings in UTC (`2026-11-23T13:45:00Z`).

use std::time::Duration;

use mongodb::bson::DateTime;

/// `instant` plus `duration`, saturating at the largest instant BSON holds.
pub fn plus(instant: DateTime, duration: Duration) -> DateTime {
    DateTime::from_millis(instant.timestamp_millis().saturating_add(millis(duration)))
}

/// `instant` minus `duration`, saturating at the smallest instant BSON holds.
pub fn minus(instant: DateTime, duration: Duration) -> DateTime {
    DateTime::from_millis(instant.timestamp_millis().saturating_sub(millis(duration)))
}

/// `duration` in whole milliseconds, as BSON counts them (saturating).
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Renders a stored instant as RFC 3339 in UTC to the second, as in `2026-11-23T13:45:00Z`.
pub fn rfc3339(instant: DateTime) -> String {
    let millis = instant.timestamp_millis();
    let whole_seconds = DateTime::from_millis(millis - millis.rem_euclid(1000));
    whole_seconds
        .try_to_rfc3339_string()
        // Only years outside 0..=9999 fail, which no instant this API stores can reach.
        .unwrap_or_else(|_| millis.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_move_instants_and_saturate() {
        let at = DateTime::from_millis(10_000);
        assert_eq!(plus(at, Duration::from_secs(2)).timestamp_millis(), 12_000);
        assert_eq!(minus(at, Duration::from_secs(2)).timestamp_millis(), 8_000);
        assert_eq!(plus(at, Duration::MAX), DateTime::MAX);
        assert_eq!(minus(DateTime::MIN, Duration::from_secs(1)), DateTime::MIN);
    }

    #[test]
    fn instants_render_in_utc_to_the_second_with_a_z() {
        assert_eq!(
            rfc3339(DateTime::from_millis(1_795_441_500_000)),
            "2026-11-23T13:45:00Z"
        );
        assert_eq!(
            rfc3339(DateTime::from_millis(1_795_441_500_999)),
            "2026-11-23T13:45:00Z"
        );
    }
}
