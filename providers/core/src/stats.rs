//! What an adapter's calls cost beyond the calls themselves: retries made inside one call and
//! time spent waiting for the account's rate limiter.
//!
//! Sits inside the provider step (plan -> **provider** -> verify). The controller counts each
//! call it makes (one apply, one read); an adapter that retried a 429 three times, or waited
//! four seconds for its request budget during a mass failover, shows that only here. Each
//! adapter instance keeps one [`CallStats`] and hands it out through
//! [`crate::Provider::call_stats`]; `GET /metrics` exports it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Budget;

/// Counters of one adapter instance; cheap to update from any task.
#[derive(Debug, Default)]
pub struct CallStats {
    retries: AtomicU64,
    throttled_ns: AtomicU64,
}

impl CallStats {
    /// One more attempt of a call after a retryable failure.
    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until `budget` allows one request, counting the time waited.
    pub async fn wait_for(&self, budget: &Budget) {
        let started = Instant::now();
        budget.until_ready().await;
        let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.throttled_ns.fetch_add(waited, Ordering::Relaxed);
    }

    /// Retries made so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Time spent waiting for the rate limiter so far.
    pub fn throttled(&self) -> Duration {
        Duration::from_nanos(self.throttled_ns.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::sync::Arc;

    use governor::{Quota, RateLimiter};

    use super::*;

    #[tokio::test]
    async fn a_limited_budget_is_counted_as_waiting() {
        let quota = Quota::per_second(NonZeroU32::MIN);
        let budget: Budget = Arc::new(RateLimiter::direct(quota));
        let stats = CallStats::default();
        stats.wait_for(&budget).await;
        assert!(
            stats.throttled() < Duration::from_millis(100),
            "the first is free"
        );
        stats.wait_for(&budget).await;
        assert!(
            stats.throttled() >= Duration::from_millis(900),
            "the second waits about a second: {:?}",
            stats.throttled()
        );
        stats.retried();
        stats.retried();
        assert_eq!(stats.retries(), 2);
    }
}
