//! Times for people: RFC 3339 in UTC and a relative age (`3m ago`), from the unix
//! milliseconds the controller records in the audit trail (`history`, notifications).
//!
//! Hand-written instead of a date crate: UTC needs only the civil-from-days conversion below,
//! and local time zones would need the tz database (a new dependency) for little gain on a
//! server whose logs are usually in UTC too. The `Z` suffix says the time is UTC.

/// `unix_ms` as RFC 3339 in UTC, whole seconds: `2026-12-07T19:31:28Z`.
pub fn rfc3339_utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How long before `now_ms` the moment `at_ms` was, in its largest whole unit: `42s ago`,
/// `3m ago`, `5h ago`, `12d ago`. A moment after `now_ms` (the controller's clock is ahead
/// of this machine's) reads `in 3s`, so a skew is visible instead of hidden.
pub fn age(at_ms: u64, now_ms: u64) -> String {
    if at_ms > now_ms {
        format!("in {}", span(at_ms - now_ms))
    } else {
        format!("{} ago", span(now_ms - at_ms))
    }
}

/// This machine's clock in unix milliseconds (0 before 1970, which no real clock is).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `ms` in its largest whole unit (seconds, minutes, hours, days), rounded down.
fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Year, month (1-12) and day (1-31) of the `days`-th day after 1970-01-01 in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so leap days fall at the end of each year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of the 400-year era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // March = 0 .. February = 11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_moments() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        // 2000 is a leap year (divisible by 400): Feb 29 exists, then Mar 1.
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(951_868_800_000), "2000-03-01T00:00:00Z");
        // 2024-02-29 (leap year) and the last second of that year.
        assert_eq!(rfc3339_utc(1_709_164_799_999), "2024-02-28T23:59:59Z");
        assert_eq!(rfc3339_utc(1_709_164_800_000), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_735_689_599_000), "2024-12-31T23:59:59Z");
        // 2100 is not a leap year: Feb 28 is followed by Mar 1.
        assert_eq!(rfc3339_utc(4_107_456_000_000), "2100-02-28T00:00:00Z");
        assert_eq!(rfc3339_utc(4_107_542_400_000), "2100-03-01T00:00:00Z");
        // The example of issue 19, milliseconds dropped (rounded down).
        assert_eq!(rfc3339_utc(1_796_671_888_765), "2026-12-07T19:31:28Z");
        assert_eq!(rfc3339_utc(1_234_567_890_000), "2009-02-13T23:31:30Z");
    }

    #[test]
    fn civil_from_days_agrees_with_counting_days() {
        // Walk 1970..2401 day by day with the month lengths of the Gregorian rules.
        let (mut y, mut m, mut d) = (1970, 1, 1);
        for days in 0..156_000 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                (d, m) = (1, m + 1);
                if m > 12 {
                    (m, y) = (1, y + 1);
                }
            }
        }
    }

    #[test]
    fn age_in_the_largest_whole_unit() {
        let now = 1_796_671_888_765;
        assert_eq!(age(now, now), "0s ago");
        assert_eq!(age(now - 999, now), "0s ago");
        assert_eq!(age(now - 42_000, now), "42s ago");
        assert_eq!(age(now - 59_999, now), "59s ago");
        assert_eq!(age(now - 60_000, now), "1m ago");
        assert_eq!(age(now - 3 * 60_000 - 5_000, now), "3m ago");
        assert_eq!(age(now - 3_600_000, now), "1h ago");
        assert_eq!(age(now - 86_399_000, now), "23h ago");
        assert_eq!(age(now - 86_400_000, now), "1d ago");
        assert_eq!(age(now - 12 * 86_400_000, now), "12d ago");
        assert_eq!(age(now + 3_000, now), "in 3s");
    }
}
