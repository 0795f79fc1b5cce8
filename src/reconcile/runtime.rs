//! What the control loop remembers about one service between ticks, in memory only.
//!
//! Part of reconcile (probe -> health -> policy -> plan -> provider -> verify): the persisted
//! [`ServiceState`] plus the loop's own bookkeeping — when the primary came up, the baseline
//! being learnt, the provider back-off, a running hook, a change in flight. Lost on restart on
//! purpose (health restarts unknown; back-offs and hooks start over).

use dnsfailback_provider::{ApplyReceipt, SyncStatus};

use crate::health::baseline::{Baseline, BaselineConfig};
use crate::policy::{Decision, ServiceState};

/// Longest back-off between two attempts after provider errors.
const MAX_BACKOFF_MS: u64 = 60_000;

/// A failback hook's progress for the transition it guards.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum HookRun {
    /// Nothing running or remembered.
    Idle,
    /// Started at `since_ms`; the transition waits for it, other services do not.
    Running { since_ms: u64 },
    /// The pre-failback hook passed; the transition may go ahead on the next tick.
    Passed,
    /// The pre-failback hook failed; not run again before `retry_at_ms`.
    Failed { retry_at_ms: u64, why: String },
}

/// What the loop keeps of a service's last decision: what status, `plan` and the quiet-service
/// check read. Not the whole [`Decision`]: its copy of the state (already in
/// [`Runtime::state`]) was a quarter of a kilobyte per service.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Noted {
    pub desired: Option<crate::policy::Publication>,
    pub reason: String,
    pub alert: Option<String>,
    pub held: Option<String>,
}

impl From<Decision> for Noted {
    fn from(d: Decision) -> Self {
        Noted {
            desired: d.desired,
            reason: d.reason,
            alert: d.alert,
            held: d.held,
        }
    }
}

/// Per-service loop state; see the module docs.
pub(super) struct Runtime {
    pub state: ServiceState,
    /// The primary's normal latency and error rate, learnt only while the service is normal
    /// and the primary up; persisted with the state.
    pub baseline: Option<Baseline>,
    pub baseline_seen_ms: u64,
    /// When the baseline was last written to the store (unix ms; 0 = not since start).
    pub baseline_saved_ms: u64,
    pub primary_up_since_ms: Option<u64>,
    /// When the loop first saw the primary not up (unix ms), while it is not: the start of
    /// a failover's duration (`totals.last_failover_ms`).
    pub primary_down_since_ms: Option<u64>,
    /// Failovers and failbacks since start, for `GET /metrics`.
    pub totals: super::status::ServiceTotals,
    pub last_verify_ms: Option<u64>,
    pub last_error: Option<String>,
    /// A provider error retrying cannot heal (refused credential, missing zone), with the
    /// provider's reason: no provider call for this service until a reload or `resume`.
    pub needs_operator: Option<String>,
    /// The metrics gate's last reading and when it was taken (unix ms).
    pub metric: Option<(u64, Result<f64, String>)>,
    /// A metric read is running in the background.
    pub metric_pending: bool,
    pub hook: HookRun,
    /// Consecutive failed converges, for the back-off.
    pub failures: u32,
    /// No provider call before this time (unix ms) after a failure.
    pub retry_at_ms: Option<u64>,
    /// The last applied change and whether the provider serves it everywhere yet.
    pub sync: Option<(ApplyReceipt, SyncStatus, u64)>,
    pub sync_pending: bool,
    pub last_alert: Option<String>,
    /// The last hold reason logged, so a hold is logged when it starts, not every tick.
    pub last_held: Option<String>,
    /// A zone job carrying this service's change is running.
    pub in_flight: bool,
    /// The failure event (site outage) this service's failover belongs to.
    pub event: Option<String>,
    /// Admitted into `event`, failover not applied yet (re-admitting would count it twice).
    pub event_pending: bool,
    /// The last decision: its reason, hold and alert are what status shows.
    pub last_decision: Option<Noted>,
    /// The health generation and time (unix ms) of the last decision.
    pub decided: (u64, u64),
    /// How long a quiet service goes undecided (4-6 s, spread so that 10,000 quiet
    /// services do not all wake on the same tick).
    pub quiet_for_ms: u64,
}

impl Runtime {
    /// Loop state for a service resumed from `state`.
    pub fn new(state: ServiceState, index: usize) -> Self {
        Runtime {
            baseline: restore_baseline(&state),
            state,
            baseline_seen_ms: 0,
            baseline_saved_ms: 0,
            primary_up_since_ms: None,
            primary_down_since_ms: None,
            totals: Default::default(),
            last_verify_ms: None,
            last_error: None,
            needs_operator: None,
            metric: None,
            metric_pending: false,
            hook: HookRun::Idle,
            failures: 0,
            retry_at_ms: None,
            sync: None,
            sync_pending: false,
            last_alert: None,
            last_held: None,
            in_flight: false,
            event: None,
            event_pending: false,
            last_decision: None,
            decided: (u64::MAX, 0),
            quiet_for_ms: 4_000 + (index as u64 * 997) % 2_000,
        }
    }

    /// Adopts a state reloaded from the shared store (taking over as leader).
    pub fn reload(&mut self, state: ServiceState) {
        self.baseline = restore_baseline(&state);
        self.baseline_seen_ms = 0;
        self.baseline_saved_ms = 0;
        self.state = state;
    }

    /// After a failed converge: exponential back-off (1 s, 2 s, 4 s ... 60 s), or the
    /// provider's own Retry-After, so a rate-limited provider is not hammered every tick.
    pub fn back_off(&mut self, now: u64, retry_after: Option<std::time::Duration>) {
        self.failures = self.failures.saturating_add(1);
        let exp = 1000u64.saturating_mul(1 << self.failures.min(7).saturating_sub(1));
        let delay = retry_after
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(MAX_BACKOFF_MS))
            .unwrap_or(exp)
            .min(MAX_BACKOFF_MS);
        self.retry_at_ms = Some(now + delay);
    }

    /// After a successful converge.
    pub fn succeeded(&mut self) {
        self.last_error = None;
        self.failures = 0;
        self.retry_at_ms = None;
    }

    /// Milliseconds left of the back-off, if the service is backing off at `now`.
    pub fn backing_off(&self, now: u64) -> Option<u64> {
        self.retry_at_ms
            .filter(|t| *t > now)
            .map(|t| t.saturating_sub(now))
    }
}

/// The baseline saved with the state, or a fresh one (also when the saved one is from an
/// older format and cannot be read).
pub(super) fn restore_baseline(state: &ServiceState) -> Option<Baseline> {
    let config = BaselineConfig::default();
    match &state.baseline {
        Some(snap) => Baseline::from_snapshot(config.clone(), snap.get().clone())
            .ok()
            .or_else(|| Baseline::new(config).ok()),
        None => Baseline::new(config).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_to_a_minute_and_honours_retry_after() {
        let mut rt = Runtime::new(ServiceState::default(), 0);
        let delays: Vec<u64> = (0..9)
            .map(|_| {
                rt.back_off(0, None);
                rt.retry_at_ms.unwrap_or_default()
            })
            .collect();
        assert_eq!(
            delays,
            vec![1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
        rt.back_off(0, Some(std::time::Duration::from_secs(7)));
        assert_eq!(rt.backing_off(1000), Some(6000));
        rt.succeeded();
        assert_eq!(rt.backing_off(0), None);
    }
}
