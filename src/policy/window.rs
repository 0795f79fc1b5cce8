//! Change windows: when planned actions (a failback, an operator's planned failover) may run.
//!
//! Part of `policy`: `decide` asks [`open`] before starting a failback or completing a planned
//! switch; unplanned failovers never wait. The windows themselves are configuration
//! ([`ChangeWindow`], parsed in `config::window`); this module only answers whether one is
//! open at a given time, in UTC.

use crate::config::ChangeWindow;

/// Weekday (Monday = 0) and minute of the day of a unix time in milliseconds, UTC.
fn weekday_minute(now_ms: u64) -> (usize, u32) {
    let days = now_ms / 86_400_000;
    // 1970-01-01 was a Thursday (index 3).
    let weekday = ((days + 3) % 7) as usize;
    let minute = ((now_ms / 60_000) % 1440) as u32;
    (weekday, minute)
}

/// True when planned actions may run now: no windows configured, or inside one.
pub fn open(windows: &[ChangeWindow], now_ms: u64) -> bool {
    if windows.is_empty() {
        return true;
    }
    let (d, m) = weekday_minute(now_ms);
    windows
        .iter()
        .any(|w| w.days[d] && m >= w.start_min && m < w.end_min)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2023-11-14 22:13:20 UTC, a Tuesday.
    const TUE_2213: u64 = 1_700_000_000_000;

    fn w(s: &str) -> ChangeWindow {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn open_only_inside_a_window() {
        assert_eq!(weekday_minute(TUE_2213), (1, 22 * 60 + 13));
        assert!(open(&[], TUE_2213));
        assert!(open(&[w("Tue 22:00-23:00")], TUE_2213));
        assert!(!open(&[w("Mon-Fri 08:00-18:00")], TUE_2213));
        assert!(!open(&[w("Wed 00:00-01:00")], TUE_2213));
        assert!(open(&[w("Wed 00:00-01:00")], TUE_2213 + (60 + 47) * 60_000));
    }
}
