//! Each provider adapter's own retries and rate-limiter waits (inside one call the controller
//! counts once), read from the adapters' counters at scrape time.
//!
//! Beside the flow (api, reading what the provider step counted): a mass failover that is
//! throttled by the account's request budget shows here as wait seconds, a flaky API as
//! retries, while `provider_calls` still counts one call each.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::reconcile::counters::{AdapterStats, ProviderLabel};

/// `dnsfailback_provider_retries_total` and `dnsfailback_provider_throttle_wait_seconds_total`.
pub(super) fn register(r: &mut Registry, stats: &AdapterStats) {
    let retries = Family::<ProviderLabel, Counter>::default();
    let waited = Family::<ProviderLabel, Counter<f64, std::sync::atomic::AtomicU64>>::default();
    let stats = stats
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for (provider, s) in stats {
        let label = ProviderLabel { provider };
        retries.get_or_create(&label).inc_by(s.retries());
        waited
            .get_or_create(&label)
            .inc_by(s.throttled().as_secs_f64());
    }
    r.register(
        "provider_retries",
        "Retries made inside provider calls (after a 5xx, 429 or timeout), by provider",
        retries,
    );
    r.register(
        "provider_throttle_wait_seconds",
        "Time provider calls waited for the account's request budget (client-side rate limiter), by provider",
        waited,
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn each_adapters_retries_and_waits_are_exported_by_provider() {
        let stats = AdapterStats::default();
        let cf = Arc::new(dnsfailback_provider::CallStats::default());
        cf.retried();
        cf.retried();
        stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert("cf".into(), cf);
        let mut r = Registry::with_prefix("dnsfailback");
        register(&mut r, &stats);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains("dnsfailback_provider_retries_total{provider=\"cf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("dnsfailback_provider_throttle_wait_seconds_total{provider=\"cf\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE dnsfailback_provider_retries counter"),
            "{text}"
        );
    }
}
