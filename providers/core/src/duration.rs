//! The one duration syntax of every configuration table: `"500ms"`, `"30s"`, `"5m"`, `"1h"`,
//! `"7d"` (decimals allowed: `"1.5s"`). Shared by the controller and all adapters so an
//! operator writes durations the same way everywhere.

use std::time::Duration;

/// Parses a duration; the error names the text and the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let Some(i) = s.find(|c: char| c.is_ascii_alphabetic()) else {
        return Err(format!(
            "`{s}` has no unit; write it like \"500ms\", \"30s\", \"5m\", \"1h\" or \"7d\""
        ));
    };
    let (num, unit) = s.split_at(i);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` does not start with a number"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("`{s}` must be a positive duration"));
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return Err(format!("`{s}` has unit `{unit}`; use ms, s, m, h or d")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is too long"))
}

/// Formats a duration the way [`parse_duration`] reads it, in the largest exact unit.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms > 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_decimals() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn errors_name_the_fix() {
        assert!(parse_duration("30")
            .err()
            .unwrap_or_default()
            .contains("no unit"));
        assert!(parse_duration("5sec")
            .err()
            .unwrap_or_default()
            .contains("use ms, s, m, h or d"));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::from_millis(250),
            Duration::from_secs(90),
            Duration::from_secs(3600),
            Duration::from_secs(86_400),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
