//! Times as the trust store writes and the command line reads them.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::TrustError;

/// Parses a time given on the command line or by a caller:
///
/// - an RFC 3339 date-time with any offset (`2026-11-25T11:00:00+01:00`), converted to UTC;
/// - a bare date `YYYY-MM-DD`, meaning midnight UTC at its start;
/// - `now`, the current time.
///
/// The result is UTC with whole seconds: sub-second digits are dropped (truncated).
///
/// # Errors
/// `BadTime` for anything else, or a time that is not in the years 0000–9999 once in UTC.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, TrustError> {
    if text == "now" {
        return normalize(OffsetDateTime::now_utc(), text);
    }
    if is_bare_date(text) {
        let date = Date::parse(text, format_description!("[year]-[month]-[day]"))
            .map_err(|e| bad_time(text, &e.to_string()))?;
        return normalize(date.midnight().assume_utc(), text);
    }
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        bad_time(
            text,
            &format!("{e}; use RFC 3339 (2026-11-25T10:00:00Z), a date (2026-11-25) or `now`"),
        )
    })?;
    normalize(time, text)
}

/// Parses a time stored in a trust store: an RFC 3339 date-time (any offset, converted to UTC)
/// with whole seconds. Bare dates and `now` are command-line conveniences, not stored forms.
pub(crate) fn parse_stored_time(text: &str) -> Result<OffsetDateTime, TrustError> {
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        bad_time(
            text,
            &format!("{e}; a trust store time is RFC 3339, e.g. 2026-11-25T10:00:00Z"),
        )
    })?;
    if time.nanosecond() != 0 {
        return Err(bad_time(
            text,
            "trust store times are whole seconds (no fraction, no leap second)",
        ));
    }
    normalize(time, text)
}

/// RFC 3339 in UTC with whole seconds, e.g. `2026-11-25T10:00:00Z`. Sub-seconds are
/// truncated. (A time that cannot be shown in UTC within the years 0000–9999 keeps its own
/// offset.)
pub fn format_time(time: OffsetDateTime) -> String {
    let time = time.truncate_to_second();
    match time.checked_to_offset(UtcOffset::UTC) {
        Some(utc) => utc
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap_or_else(|_| utc.to_string()),
        None => time
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
            ))
            .unwrap_or_else(|_| time.to_string()),
    }
}

/// UTC, whole seconds, years 0000–9999 (so that the stored text is RFC 3339).
pub(crate) fn normalize(time: OffsetDateTime, text: &str) -> Result<OffsetDateTime, TrustError> {
    let utc = time
        .checked_to_offset(UtcOffset::UTC)
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or_else(|| bad_time(text, "outside the years 0000-9999 in UTC"))?;
    Ok(utc.truncate_to_second())
}

fn is_bare_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn bad_time(text: &str, reason: &str) -> TrustError {
    TrustError::BadTime {
        text: text.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn accepted_forms() {
        assert_eq!(
            parse_time("2026-11-25T10:00:00Z").unwrap(),
            datetime!(2026-11-25 10:00:00 UTC)
        );
        assert_eq!(
            parse_time("2026-11-25T11:30:00+01:30").unwrap(),
            datetime!(2026-11-25 10:00:00 UTC)
        );
        assert_eq!(
            parse_time("2026-11-25T10:00:00.999Z").unwrap(),
            datetime!(2026-11-25 10:00:00 UTC)
        );
        // RFC 3339 §5.6 allows lowercase `t` and `z`, and a space for the `T`.
        assert_eq!(
            parse_time("2026-11-25t10:00:00z").unwrap(),
            datetime!(2026-11-25 10:00:00 UTC)
        );
        // A leap second (end of a month only) is read as :59.
        assert_eq!(
            parse_time("2016-12-31T23:59:60Z").unwrap(),
            datetime!(2016-12-31 23:59:59 UTC)
        );
        assert_eq!(
            parse_time("2026-11-25 10:00:00Z").unwrap(),
            datetime!(2026-11-25 10:00:00 UTC)
        );
        assert_eq!(
            parse_time("2026-11-25").unwrap(),
            datetime!(2026-11-25 00:00:00 UTC)
        );
        let now = parse_time("now").unwrap();
        assert_eq!(now.nanosecond(), 0);
        assert_eq!(now.offset(), UtcOffset::UTC);
        let real_now = OffsetDateTime::now_utc();
        assert!((real_now - now).whole_seconds().abs() < 5);
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "NOW",
            " now",
            "2026-11-25 ",
            "2026-13-01",
            "2026-02-30",
            "26-11-25",
            "+2026-11-25",
            "2026-11-25T10:00:00",       // no offset
            "2026-11-25T10:00Z",         // no seconds
            "0000-01-01T00:00:00+01:00", // before year 0 in UTC
            "tomorrow",
        ] {
            let err = parse_time(bad).unwrap_err();
            assert!(matches!(err, TrustError::BadTime { .. }), "{bad:?}: {err}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn stored_times_are_rfc3339_whole_seconds() {
        assert_eq!(
            parse_stored_time("2026-01-01T01:00:00+01:00").unwrap(),
            datetime!(2026-01-01 00:00:00 UTC)
        );
        assert!(parse_stored_time("2026-01-01").is_err());
        assert!(parse_stored_time("now").is_err());
        let err = parse_stored_time("2026-01-01T00:00:00.5Z").unwrap_err();
        assert!(err.to_string().contains("whole seconds"), "{err}");
        let err = parse_stored_time("2016-12-31T23:59:60Z").unwrap_err();
        assert!(err.to_string().contains("leap second"), "{err}");
        // Zero fractions are whole seconds.
        assert!(parse_stored_time("2026-01-01T00:00:00.000Z").is_ok());
    }

    #[test]
    fn formatting_is_utc_whole_seconds() {
        assert_eq!(
            format_time(datetime!(2026-11-25 10:00:00.75 UTC)),
            "2026-11-25T10:00:00Z"
        );
        assert_eq!(
            format_time(datetime!(2026-11-25 11:00:00 +01:00)),
            "2026-11-25T10:00:00Z"
        );
        assert_eq!(
            format_time(datetime!(0001-01-01 00:00:00 UTC)),
            "0001-01-01T00:00:00Z"
        );
        // Not representable in UTC: keeps its own offset rather than lying.
        assert_eq!(
            format_time(datetime!(-9999-01-01 00:30:00 +01:00)),
            "-9999-01-01T00:30:00+01:00"
        );
        let t = parse_time("2031-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_time(&format_time(t)).unwrap(), t);
    }
}
