//! What the control loop counts for `GET /metrics`: changes by action, failed changes, how
//! long each tick's decision pass takes, probe durations and failures by probe kind, and
//! every provider call by provider. Everything per service (phases, published TTLs, target
//! states, failover totals) is read from the status rows at scrape time, so 10,000 services
//! cost no memory between scrapes.
//!
//! Part of reconcile: probe results are counted as the loop takes them in (probe -> **health**),
//! provider calls where the loop makes them (`provider_calls`: plan -> **provider** ->
//! verify), changes when a zone job's results are folded in. Shared with the admin API
//! through the [`super::StatusBoard`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::probe::ProbeResult;

/// The `action` label of a change: `failover`, `canary_step`, `ttl_restore`, ... (a fixed,
/// small set: see `converge::action_for`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: &'static str,
}

/// The probe kind (`http`, `https`, `tcp`, `udp`, `icmp`, `dns`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// A probe failure: the kind and the [`crate::probe::FailureReason`] variant.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeFailureLabels {
    pub kind: &'static str,
    pub reason: &'static str,
}

/// A provider instance, by its configured name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabel {
    pub provider: String,
}

/// A provider call: `op` is `read`, `apply` or `status`; `outcome` is `ok` or `error`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderCallLabels {
    pub provider: String,
    pub op: &'static str,
    pub outcome: &'static str,
}

/// A provider error by its `ErrorKind` label (`transient`, `auth`, `rate_limited`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderErrorLabels {
    pub provider: String,
    pub kind: &'static str,
}

/// A histogram family; the constructor is a plain function so the type can be named.
pub type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The loop's counters (cheap to clone: each is a shared handle).
#[derive(Clone, Debug)]
pub struct LoopCounters {
    /// Changes applied and verified, by audit action.
    pub changes: Family<ActionLabel, Counter>,
    /// Service changes that failed (provider error, invalid plan, not leader).
    pub change_failures: Counter,
    /// Seconds a tick's decision pass took (health evaluation, every due decision, writes).
    pub tick_seconds: Histogram,
    /// Probe durations by probe kind (not by check: 10,000 checks times the buckets would be
    /// a scrape of a million lines).
    pub probe_seconds: Histograms<KindLabel>,
    /// Failed probes by kind and reason.
    pub probe_failures: Family<ProbeFailureLabels, Counter>,
    /// Every provider call the controller makes, by provider, operation and outcome.
    pub provider_calls: Family<ProviderCallLabels, Counter>,
    /// Failed provider calls by provider and error kind.
    pub provider_errors: Family<ProviderErrorLabels, Counter>,
    /// Seconds each `apply` call took, by provider.
    pub provider_apply_seconds: Histograms<ProviderLabel>,
    /// Seconds from a change to the provider's first "in sync" (providers with change status).
    pub provider_propagation_seconds: Histograms<ProviderLabel>,
    /// Each adapter's own retries and rate-limiter waits, by provider name (replaced on
    /// reload), read at scrape time.
    pub adapter_stats: AdapterStats,
}

/// The adapters' [`dnsfailback_provider::CallStats`], by provider name.
pub type AdapterStats = std::sync::Arc<
    std::sync::Mutex<
        std::collections::BTreeMap<String, std::sync::Arc<dnsfailback_provider::CallStats>>,
    >,
>;

/// 1 ms .. ~9.5 s: probe timeouts are at most a few seconds.
fn probe_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 11))
}

/// 10 ms .. ~95 s: an API call, a batch of a whole zone at worst.
fn apply_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.5, 11))
}

/// 1 s .. ~34 min: Route 53 says INSYNC within a minute or two.
fn propagation_buckets() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 12))
}

impl Default for LoopCounters {
    fn default() -> Self {
        LoopCounters {
            changes: Family::default(),
            change_failures: Counter::default(),
            // 100 µs .. ~3.3 s: a quiet tick at 10,000 services takes ~30 ms.
            tick_seconds: Histogram::new(exponential_buckets(0.0001, 4.0, 9)),
            probe_seconds: Family::new_with_constructor(probe_buckets),
            probe_failures: Family::default(),
            provider_calls: Family::default(),
            provider_errors: Family::default(),
            provider_apply_seconds: Family::new_with_constructor(apply_buckets),
            provider_propagation_seconds: Family::new_with_constructor(propagation_buckets),
            adapter_stats: AdapterStats::default(),
        }
    }
}

impl LoopCounters {
    /// Counts one probe result: its duration by kind, and its failure reason if it failed.
    /// On the loop's hot path (20,000 results a second): no allocation, two map lookups.
    pub fn probe(&self, r: &ProbeResult) {
        let kind = r.kind.label();
        self.probe_seconds
            .get_or_create(&KindLabel { kind })
            .observe(r.outcome.latency.as_secs_f64());
        if let Err(reason) = &r.outcome.result {
            self.probe_failures
                .get_or_create(&ProbeFailureLabels {
                    kind,
                    reason: reason.label(),
                })
                .inc();
        }
    }
}
