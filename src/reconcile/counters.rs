//! What the control loop counts for `GET /metrics`: changes by action, failed changes, and
//! how long each tick's decision pass takes. Everything else the metrics show (phases,
//! published TTLs, target states) is read from the status rows at scrape time, so 10,000
//! services cost no memory between scrapes.
//!
//! Part of reconcile (plan -> provider -> **verify**, counted when a zone job's results are
//! folded in); shared with the admin API through the [`super::StatusBoard`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// The `action` label of a change: `failover`, `canary_step`, `ttl_restore`, ... (a fixed,
/// small set: see `converge::action_for`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: &'static str,
}

/// The loop's counters (cheap to clone: each is a shared handle).
#[derive(Clone, Debug)]
pub struct LoopCounters {
    /// Changes applied and verified, by audit action.
    pub changes: Family<ActionLabel, Counter>,
    /// Service changes that failed (provider error, invalid plan, not leader).
    pub change_failures: Counter,
    /// Seconds a tick's decision pass took (health evaluation, every due decision, writes).
    pub tick_seconds: Histogram,
}

impl Default for LoopCounters {
    fn default() -> Self {
        LoopCounters {
            changes: Family::default(),
            change_failures: Counter::default(),
            // 100 µs .. ~3.3 s: a quiet tick at 10,000 services takes ~30 ms.
            tick_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0001, 4.0, 9),
            ),
        }
    }
}
