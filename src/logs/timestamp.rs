//! Line times: when a log line says it was written, parsed from the text its source's format
//! finds (RFC 3339 / ISO 8601, syslog, common log format, epoch numbers). Never fails loudly:
//! text that is not a time is `None`, and the caller falls back to the read time.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};

/// The JSON fields tried, in this order, when a `json` source sets no `time_field`.
pub const DEFAULT_TIME_FIELDS: [&str; 4] = ["time", "timestamp", "ts", "@timestamp"];

/// Epoch numbers below this are seconds; then milliseconds, microseconds and nanoseconds, each a
/// thousand times larger (1e11 s is the year 5138; 1e11 ms is 1973).
const EPOCH_SECONDS_BELOW: f64 = 1e11;

/// Parses a line time: RFC 3339 / ISO 8601 (`T` or space, optional fraction with `.` or `,`,
/// optional zone `Z`, `±hh:mm`, `±hhmm`, `±hh`, `UTC`; no zone means UTC), syslog
/// `Nov 23 01:02:03` (UTC, in the year that puts it at most a day after `now`), common log format
/// `23/Nov/2026:01:02:03 +0000`, or epoch seconds, milliseconds, microseconds or nanoseconds
/// (digits, optionally with a fraction). Surrounding spaces, quotes and brackets are ignored.
pub fn parse(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let text = text
        .trim()
        .trim_start_matches(['[', '"', '\''])
        .trim_end_matches([']', '"', '\''])
        .trim();
    let first = *text.as_bytes().first()?;
    if first.is_ascii_digit() {
        if let Some(epoch) = epoch_text(text) {
            return epoch;
        }
        iso(text).or_else(|| common_log(text))
    } else {
        syslog(text, now)
    }
}

/// The time in a JSON value: a string (see [`parse`]) or an epoch number.
pub fn from_json(value: &serde_json::Value, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match value {
        serde_json::Value::String(s) => parse(s, now),
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(whole) => from_epoch_integer(whole),
            None => from_epoch(n.as_f64()?),
        },
        _ => None,
    }
}

/// An epoch number: seconds, milliseconds, microseconds or nanoseconds by its size; `None` when
/// negative, not finite or out of range.
pub fn from_epoch(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let mut micros_per_unit = 1e6;
    let mut bound = EPOCH_SECONDS_BELOW;
    while value >= bound && micros_per_unit > 1e-3 {
        micros_per_unit /= 1e3;
        bound *= 1e3;
    }
    // Whole microseconds: an f64 holds no more, and rounding keeps `.25` exact.
    let micros = (value * micros_per_unit).round();
    if micros >= 9.2e18 {
        return None;
    }
    DateTime::from_timestamp_micros(micros as i64)
}

/// An epoch integer, without the rounding of `f64` for nanoseconds.
fn from_epoch_integer(value: u64) -> Option<DateTime<Utc>> {
    let value = i64::try_from(value).ok()?;
    // Same thresholds as `from_epoch`.
    if value < 100_000_000_000 {
        DateTime::from_timestamp(value, 0)
    } else if value < 100_000_000_000_000 {
        DateTime::from_timestamp_millis(value)
    } else if value < 100_000_000_000_000_000 {
        DateTime::from_timestamp_micros(value)
    } else {
        Some(DateTime::from_timestamp_nanos(value))
    }
}

/// Digits with an optional fraction: `Some(time or None)`; `None` when the text is not a number
/// (so other formats are tried).
fn epoch_text(text: &str) -> Option<Option<DateTime<Utc>>> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.is_empty() {
        return Some(whole.parse().ok().and_then(from_epoch_integer));
    }
    Some(text.parse().ok().and_then(from_epoch))
}

/// `2026-11-23T01:02:03.250+01:00` and its variants.
fn iso(text: &str) -> Option<DateTime<Utc>> {
    let format = match text.as_bytes().get(10)? {
        b'T' => "%Y-%m-%dT%H:%M:%S",
        b' ' => "%Y-%m-%d %H:%M:%S",
        // Rare: RFC 3339 allows lower case; the only `t` before it is this one (digits only).
        b't' => return iso(&text.replacen('t', "T", 1)),
        _ => return None,
    };
    let (naive, rest) = NaiveDateTime::parse_and_remainder(text, format).ok()?;
    let (nanos, rest) = fraction(rest)?;
    let naive = naive.checked_add_signed(TimeDelta::nanoseconds(nanos))?;
    let offset = zone(rest)?;
    Some(offset.from_local_datetime(&naive).single()?.to_utc())
}

/// A leading `.123` or `,123` as nanoseconds, and the rest (no fraction: 0 and all of it).
fn fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(digits) = rest.strip_prefix(['.', ',']) else {
        return Some((0, rest));
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let (frac, rest) = digits.split_at(end);
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10_i64.pow(8 - u32::try_from(i).ok()?);
    }
    Some((nanos, rest))
}

/// A zone suffix: none, `Z`, `UTC`, `GMT`, `±hh:mm`, `±hhmm` or `±hh` (optionally after one
/// space).
fn zone(rest: &str) -> Option<FixedOffset> {
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    if matches!(rest, "" | "Z" | "z" | "UTC" | "GMT") {
        return FixedOffset::east_opt(0);
    }
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let digits = digits.replacen(':', "", 1);
    if !matches!(digits.len(), 2 | 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits
        .get(2..)
        .filter(|m| !m.is_empty())
        .map_or(Ok(0), str::parse)
        .ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// Common log format: `23/Nov/2026:01:02:03 +0000`.
fn common_log(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z")
        .ok()
        .map(|t| t.to_utc())
}

/// Syslog (RFC 3164): `Nov 23 01:02:03` or `Nov  3 01:02:03`, read as UTC in the year that puts
/// it no more than a day after `now` (so December lines read in January are last year's).
fn syslog(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut parts = text.split_ascii_whitespace();
    let (month, day, clock) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || month.len() != 3 || day.len() > 2 {
        return None;
    }
    let in_year = |year: i32| {
        let date = NaiveDate::parse_from_str(&format!("{year} {month} {day}"), "%Y %b %d").ok()?;
        let time = chrono::NaiveTime::parse_from_str(clock, "%H:%M:%S").ok()?;
        Some(date.and_time(time).and_utc())
    };
    let year = now.year();
    match in_year(year) {
        Some(t) if t <= now + TimeDelta::days(1) => Some(t),
        _ => in_year(year - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("valid")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("rfc3339")
            .to_utc()
    }

    #[test]
    fn rfc3339_and_iso8601_variants() {
        let cases = [
            ("2026-11-23T01:02:03Z", "2026-11-23T01:02:03Z"),
            ("2026-11-23T01:02:03.250Z", "2026-11-23T01:02:03.250Z"),
            ("2026-11-23t01:02:03z", "2026-11-23T01:02:03Z"),
            ("2026-11-23 01:02:03", "2026-11-23T01:02:03Z"),
            ("2026-11-23 01:02:03,125", "2026-11-23T01:02:03.125Z"),
            (
                "2026-11-23T01:02:03.123456789",
                "2026-11-23T01:02:03.123456789Z",
            ),
            (
                "2026-11-23T01:02:03.1234567891",
                "2026-11-23T01:02:03.123456789Z",
            ),
            ("2026-11-23T02:02:03+01:00", "2026-11-23T01:02:03Z"),
            ("2026-11-23T02:02:03+0100", "2026-11-23T01:02:03Z"),
            ("2026-11-23T02:02:03+01", "2026-11-23T01:02:03Z"),
            ("2026-11-22T23:32:03-01:30", "2026-11-23T01:02:03Z"),
            ("2026-11-23 01:02:03 UTC", "2026-11-23T01:02:03Z"),
            ("2026-11-23 01:02:03.5 +00:00", "2026-11-23T01:02:03.5Z"),
            ("[2026-11-23T01:02:03Z]", "2026-11-23T01:02:03Z"),
            ("\"2026-11-23T01:02:03Z\"", "2026-11-23T01:02:03Z"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text, now()), Some(utc(expected)), "{text}");
        }
    }

    #[test]
    fn syslog_is_utc_in_the_year_that_is_not_in_the_future() {
        assert_eq!(
            parse("Nov 23 01:02:03", now()),
            Some(utc("2026-11-23T01:02:03Z"))
        );
        assert_eq!(
            parse("Nov  3 01:02:03", now()),
            Some(utc("2026-11-03T01:02:03Z"))
        );
        // December lines read in January are last year's.
        let january = utc("2027-01-01T00:10:00Z");
        assert_eq!(
            parse("Dec 31 23:59:59", january),
            Some(utc("2026-12-31T23:59:59Z"))
        );
        // Up to a day ahead stays this year (a writer's clock or zone slightly ahead).
        assert_eq!(
            parse("Nov 23 20:00:00", now()),
            Some(utc("2026-11-23T20:00:00Z"))
        );
    }

    #[test]
    fn common_log_format() {
        assert_eq!(
            parse("23/Nov/2026:01:02:03 +0000", now()),
            Some(utc("2026-11-23T01:02:03Z"))
        );
        assert_eq!(
            parse("[23/Nov/2026:03:02:03 +0200]", now()),
            Some(utc("2026-11-23T01:02:03Z"))
        );
    }

    #[test]
    fn epoch_seconds_milliseconds_and_smaller_units() {
        let t = utc("2026-11-23T01:02:03Z");
        let s = t.timestamp();
        assert_eq!(parse(&s.to_string(), now()), Some(t));
        assert_eq!(parse(&format!("{s}000"), now()), Some(t));
        assert_eq!(parse(&format!("{s}000000"), now()), Some(t));
        assert_eq!(parse(&format!("{s}000000000"), now()), Some(t));
        assert_eq!(
            parse(&format!("{s}.5"), now()),
            Some(t + TimeDelta::milliseconds(500))
        );
        let json: serde_json::Value =
            serde_json::json!({"a": s, "b": s * 1000, "c": s as f64 + 0.25, "d": format!("{s}")});
        assert_eq!(from_json(&json["a"], now()), Some(t));
        assert_eq!(from_json(&json["b"], now()), Some(t));
        assert_eq!(
            from_json(&json["c"], now()),
            Some(t + TimeDelta::milliseconds(250))
        );
        assert_eq!(from_json(&json["d"], now()), Some(t));
        assert_eq!(from_json(&serde_json::json!(-5), now()), None);
        assert_eq!(from_json(&serde_json::json!(null), now()), None);
        assert_eq!(from_json(&serde_json::json!(true), now()), None);
    }

    #[test]
    fn garbage_is_none() {
        for text in [
            "",
            "   ",
            "[]",
            "hello",
            "2026-13-01T00:00:00Z",
            "2026-11-31 00:00:00",
            "2026-11-23T25:00:00Z",
            "2026-11-23T01:02:03+24:00",
            "2026-11-23T01:02:03 Europe/Paris",
            "2026-11-23T01:02:03.",
            "2026-11-23",
            "Foo 23 01:02:03",
            "Nov 32 01:02:03",
            "Nov 23 01:02",
            "Nov 23 01:02:03 extra",
            "23/Nov/2026:01:02:03",
            "1.2.3",
            "12abc",
            "99999999999999999999999999",
            "1e400",
            "-5",
        ] {
            assert_eq!(parse(text, now()), None, "{text:?}");
        }
        assert_eq!(from_epoch(f64::NAN), None);
        assert_eq!(from_epoch(f64::INFINITY), None);
        assert_eq!(from_epoch(1e300), None);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(text in "\\PC{0,40}") {
            let _ = parse(&text, now());
        }

        #[test]
        fn never_panics_on_time_like_text(text in "[0-9 :TZ+.,/-]{0,35}|[A-Za-z]{3} [ 0-9]{1,3} [0-9:]{0,9}") {
            let _ = parse(&text, now());
        }

        #[test]
        fn never_panics_on_any_number(value in proptest::num::f64::ANY, whole in any::<u64>()) {
            let _ = from_epoch(value);
            let _ = from_json(&serde_json::json!(whole), now());
        }

        #[test]
        fn rfc3339_round_trips(secs in 0_i64..4_000_000_000, nanos in 0_u32..1_000_000_000) {
            let t = DateTime::from_timestamp(secs, nanos).expect("in range");
            prop_assert_eq!(parse(&t.to_rfc3339(), now()), Some(t));
        }
    }
}
