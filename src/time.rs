//! Times and durations: reading and writing them, and the range of times the lake stores. Also
//! byte counts for people, which the report and its charts write the same way.

use chrono::{DateTime, NaiveDateTime};

/// The earliest time the lake stores (1970-01-01T00:00:00Z), in microseconds.
pub const MIN_TIME_MICROS: i64 = 0;
/// The first time the lake no longer stores (2200-01-01T00:00:00Z), in microseconds.
pub const END_TIME_MICROS: i64 = 7_258_118_400_000_000;

/// Is a time (microseconds since the epoch) inside the range the lake stores, 1970 to 2200?
pub fn time_in_range(micros: i64) -> bool {
    (MIN_TIME_MICROS..END_TIME_MICROS).contains(&micros)
}

/// The reason a time outside that range is rejected.
pub fn time_out_of_range(what: &str, text: &str) -> String {
    format!("{what} {text:?} is outside 1970-01-01..2200-01-01, the times the lake stores")
}

/// A time given by a user for a range (`--from`, `--to`, a filter) moved into the stored range:
/// the lake holds nothing before 1970 or after 2200, so a bound beyond them selects the same rows.
pub fn clamp_time(micros: i64) -> i64 {
    micros.clamp(MIN_TIME_MICROS, END_TIME_MICROS)
}

/// Parse a time: ISO-8601 with zone (the AWS form), or the zone-less and space-separated forms some
/// exporters write (taken as UTC). Returns microseconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S%.f %Z"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    // `2023-07-10 12:00:00 +0000 UTC` and friends.
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Some(t.timestamp_micros());
    }
    None
}

/// A time as trailflow writes it: `2024-05-01T12:00:00Z`.
pub fn fmt_time(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| micros.to_string())
}

/// A duration such as `24h`, `90m`, `2d`, `3600s` or `1h30m` (read by humantime), in microseconds.
pub fn parse_duration(s: &str) -> crate::error::Result<i64> {
    let bad = || crate::error::Error::Usage(format!("cannot read {s:?} as a duration: use e.g. 24h, 90m, 2d, 3600s"));
    let d = humantime::parse_duration(s.trim()).map_err(|_| bad())?;
    i64::try_from(d.as_micros()).ok().filter(|us| *us > 0).ok_or_else(bad)
}

/// A duration in microseconds in its largest whole unit: `1d`, `6h`, `90m`, `45s`.
pub fn duration_text(us: i64) -> String {
    let secs = us / 1_000_000;
    if secs % 86_400 == 0 {
        format!("{}d", secs / 86_400)
    } else if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// The decimal unit that suits a byte count: (bytes per unit, unit name).
pub fn byte_unit(n: f64) -> (f64, &'static str) {
    [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")].into_iter().find(|(s, _)| n >= *s).unwrap_or((1.0, "B"))
}

/// Bytes for people: 2.9 GB, 180 MB, 12 kB, 999 B.
pub fn human_bytes(n: i64) -> String {
    match byte_unit(n as f64) {
        (_, "B") => format!("{n} B"),
        (scale, unit) => format!("{:.1} {unit}", n as f64 / scale),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("2024-10-14T09:00:16Z"), Some(1_728_896_416_000_000));
        assert_eq!(parse_time("2022-12-11 19:42:55"), parse_time("2022-12-11T19:42:55Z"));
        assert_eq!(parse_time("2025-01-20 16:52:14.000000000"), parse_time("2025-01-20T16:52:14Z"));
        assert_eq!(parse_time("redacted"), None);
        assert_eq!(parse_time("2025-10-21TT00:52:27Z"), None);
        assert_eq!(fmt_time(1_728_896_416_000_000), "2024-10-14T09:00:16Z");
    }

    #[test]
    fn time_range() {
        assert!(time_in_range(0));
        assert!(time_in_range(END_TIME_MICROS - 1));
        assert!(!time_in_range(END_TIME_MICROS));
        assert!(!time_in_range(-1));
        assert_eq!(clamp_time(-10_000_000_000_000_000), 0);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), 86_400_000_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000);
        assert_eq!(parse_duration("2d").unwrap(), 172_800_000_000);
        assert_eq!(parse_duration("3600s").unwrap(), 3_600_000_000);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(duration_text(86_400_000_000), "1d");
        assert_eq!(duration_text(5_400_000_000), "90m");
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(2_160_720_000), "2.2 GB");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(byte_unit(5e6), (1e6, "MB"));
    }
}
