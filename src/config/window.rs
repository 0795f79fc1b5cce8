//! Change windows as configured: `change_windows = ["Mon-Fri 08:00-18:00"]` of a service.
//!
//! Part of `config` (the start of the flow): [`ChangeWindow`] is the parsed, checked value
//! that [`super::validate`] puts on each [`super::Service`]. Whether a window is open now is
//! the policy's question (`policy::window::open`): `decide` asks it before starting a
//! failback or completing a planned switch; unplanned failovers never wait. Windows are in
//! UTC, written like `"Mon-Fri 08:00-18:00"`, `"Sat,Sun 10:00-12:00"` or
//! `"daily 02:00-04:00"`.

use serde::{Deserialize, Serialize};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One weekly window, UTC, minutes since midnight; `end` may be 24:00.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeWindow {
    /// Monday first.
    pub days: [bool; 7],
    pub start_min: u32,
    pub end_min: u32,
}

fn day(s: &str) -> Result<usize, String> {
    DAYS.iter()
        .position(|d| s.eq_ignore_ascii_case(d))
        .ok_or_else(|| format!("`{s}` is not a day; use Mon, Tue, Wed, Thu, Fri, Sat, Sun"))
}

fn minute(s: &str) -> Result<u32, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not a time like 08:00"))?;
    let (h, m): (u32, u32) = (
        h.parse()
            .map_err(|_| format!("`{s}` is not a time like 08:00"))?,
        m.parse()
            .map_err(|_| format!("`{s}` is not a time like 08:00"))?,
    );
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(format!("`{s}` is not a time between 00:00 and 24:00"));
    }
    Ok(h * 60 + m)
}

impl std::str::FromStr for ChangeWindow {
    type Err = String;

    /// Parses `"Mon-Fri 08:00-18:00"` (an optional trailing `UTC` is accepted).
    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text
            .split_whitespace()
            .filter(|p| !p.eq_ignore_ascii_case("utc"))
            .collect();
        let [days_text, times] = parts.as_slice() else {
            return Err(format!(
                "`{text}` is not like \"Mon-Fri 08:00-18:00\" (UTC)"
            ));
        };
        let mut days = [false; 7];
        if days_text.eq_ignore_ascii_case("daily") {
            days = [true; 7];
        } else {
            for item in days_text.split(',') {
                match item.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (day(a)?, day(b)?);
                        let mut d = a;
                        loop {
                            days[d] = true;
                            if d == b {
                                break;
                            }
                            d = (d + 1) % 7;
                        }
                    }
                    None => days[day(item)?] = true,
                }
            }
        }
        let (a, b) = times
            .split_once('-')
            .ok_or_else(|| format!("`{times}` is not a range like 08:00-18:00"))?;
        let (start_min, end_min) = (minute(a)?, minute(b)?);
        if start_min >= end_min {
            return Err(format!(
                "`{times}` ends before it starts; a window cannot cross midnight, split it in two"
            ));
        }
        Ok(ChangeWindow {
            days,
            start_min,
            end_min,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> ChangeWindow {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_ranges_lists_and_daily() {
        assert_eq!(
            w("Mon-Fri 08:00-18:00").days,
            [true, true, true, true, true, false, false]
        );
        assert_eq!(
            w("Sat,Sun 10:00-12:00 UTC").days,
            [false, false, false, false, false, true, true]
        );
        assert_eq!(
            w("Fri-Mon 00:00-24:00").days,
            [true, false, false, false, true, true, true]
        );
        assert_eq!(w("daily 02:00-04:00").start_min, 120);
        for bad in [
            "Mon 18:00-08:00",
            "Someday 08:00-09:00",
            "Mon 8-9",
            "Mon 08:00-25:00",
            "08:00-09:00",
        ] {
            assert!(bad.parse::<ChangeWindow>().is_err(), "{bad}");
        }
    }
}
