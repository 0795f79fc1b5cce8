//! Allowed ranges of every duration in the configuration file.
//!
//! `validate` refuses a value outside its range with the key path and the range, so a unit
//! mistake (`tick = "0s"`, `stable_for = "2ms"` for two minutes, `step_hold = "300d"`) is
//! caught before the controller runs. docs/config.md lists the same table.

use std::time::Duration;

use crate::probe::duration_opt;

/// The allowed values of one duration key: `min..=max`, and optionally exactly zero where
/// zero means "off" (no wait, no interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
    /// `0s` is allowed too and means "off".
    pub zero_means_off: bool,
}

const fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}
const fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

const fn between(min: Duration, max: Duration) -> Bounds {
    Bounds {
        min,
        max,
        zero_means_off: false,
    }
}
const fn off_or(min: Duration, max: Duration) -> Bounds {
    Bounds {
        min,
        max,
        zero_means_off: true,
    }
}

/// `controller.tick`.
pub const TICK: Bounds = between(ms(10), secs(60));
/// `controller.notify[].timeout`.
pub const NOTIFY_TIMEOUT: Bounds = between(ms(100), secs(MINUTE));
/// `controller.notify[].retry_for`.
pub const NOTIFY_RETRY_FOR: Bounds = between(secs(0), secs(DAY));
/// `controller.max_failovers_window`.
pub const MAX_FAILOVERS_WINDOW: Bounds = between(secs(1), secs(7 * DAY));
/// `controller.agent_stale_after`.
pub const AGENT_STALE_AFTER: Bounds = between(secs(1), secs(HOUR));
/// `controller.etcd.lease_ttl`.
pub const ETCD_LEASE_TTL: Bounds = between(secs(3), secs(2 * MINUTE));
/// `controller.etcd.timeout`.
pub const ETCD_TIMEOUT: Bounds = between(ms(100), secs(MINUTE));
/// `services.NAME.stable_for`.
pub const STABLE_FOR: Bounds = off_or(secs(1), secs(7 * DAY));
/// `services.NAME.restore_ttl_after`.
pub const RESTORE_TTL_AFTER: Bounds = off_or(secs(1), secs(7 * DAY));
/// `services.NAME.min_change_interval`.
pub const MIN_CHANGE_INTERVAL: Bounds = off_or(secs(1), secs(7 * DAY));
/// `services.NAME.step_hold`.
pub const STEP_HOLD: Bounds = off_or(secs(1), secs(DAY));
/// `services.NAME.gate_max_latency`.
pub const GATE_MAX_LATENCY: Bounds = between(ms(1), secs(10 * MINUTE));
/// `services.NAME.approval_timeout`.
pub const APPROVAL_TIMEOUT: Bounds = between(secs(10), secs(7 * DAY));
/// `services.NAME.ttl_lead_margin`.
pub const TTL_LEAD_MARGIN: Bounds = off_or(secs(1), secs(HOUR));
/// `timeout` of `pre_failback_hook` and `post_step_hook`.
pub const HOOK_TIMEOUT: Bounds = between(ms(100), secs(10 * MINUTE));
/// A check's `interval` (also `[[controller.uplink_checks.checks]]`).
pub const CHECK_INTERVAL: Bounds = between(ms(100), secs(HOUR));
/// A check's `timeout` (and at most its `interval`).
pub const CHECK_TIMEOUT: Bounds = between(ms(1), secs(5 * MINUTE));
/// A check's `recheck_interval`.
pub const CHECK_RECHECK_INTERVAL: Bounds = between(ms(10), secs(MINUTE));
/// A check's `max_latency`.
pub const CHECK_MAX_LATENCY: Bounds = between(ms(1), secs(5 * MINUTE));
/// An HTTP check's `cert_min_validity`.
pub const CERT_MIN_VALIDITY: Bounds = between(secs(HOUR), secs(365 * DAY));

impl Bounds {
    /// Whether `d` is allowed.
    pub fn allows(&self, d: Duration) -> bool {
        (self.zero_means_off && d.is_zero()) || (self.min..=self.max).contains(&d)
    }

    /// The range in words, e.g. `from 10ms to 1m` or `0s, or from 1s to 7d`.
    pub fn describe(&self) -> String {
        let range = format!(
            "from {} to {}",
            duration_opt::format(self.min),
            duration_opt::format(self.max)
        );
        if self.zero_means_off {
            format!("0s, or {range}")
        } else {
            range
        }
    }

    /// The problem with `written` (which parsed as `d`) for `key`, or `None` when allowed.
    pub fn check(&self, key: &str, written: &str, d: Duration) -> Option<String> {
        (!self.allows(d)).then(|| {
            format!(
                "{key} `{}` is outside the allowed range: {}",
                written.trim(),
                self.describe()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_with_and_without_off() {
        assert!(!TICK.allows(Duration::ZERO));
        assert!(!TICK.allows(Duration::from_nanos(100)));
        assert!(TICK.allows(ms(10)) && TICK.allows(secs(60)));
        assert!(!TICK.allows(ms(60_001)));
        assert_eq!(TICK.describe(), "from 10ms to 1m");
        assert!(STABLE_FOR.allows(Duration::ZERO));
        assert!(!STABLE_FOR.allows(ms(500)));
        assert!(!STABLE_FOR.allows(secs(8 * DAY)));
        assert_eq!(STABLE_FOR.describe(), "0s, or from 1s to 7d");
        assert_eq!(
            TICK.check("tick", "0.0001ms", Duration::from_nanos(100)),
            Some("tick `0.0001ms` is outside the allowed range: from 10ms to 1m".into())
        );
    }
}
