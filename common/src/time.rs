//! Instants as the contract renders them: RFC 3339 strings in UTC (`2026-11-23T13:45:00Z`).

use mongodb::bson::DateTime;

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
