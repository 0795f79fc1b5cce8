//! Wall-clock milliseconds driven by tokio's clock, so paused-time tests control every wait.
//!
//! Persisted times (phase start, last change, audit) are unix milliseconds so they survive a
//! restart; they advance with `tokio::time`, which tests pause and advance deterministically.

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall0_ms: u64,
    t0: tokio::time::Instant,
}

impl Clock {
    /// Anchored to the system clock now.
    pub fn system() -> Self {
        let wall0_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Clock::starting_at(wall0_ms)
    }

    /// Anchored to a fixed instant, for tests.
    pub fn starting_at(wall0_ms: u64) -> Self {
        Clock {
            wall0_ms,
            t0: tokio::time::Instant::now(),
        }
    }

    /// Unix milliseconds now.
    pub fn now_ms(&self) -> u64 {
        self.wall0_ms
            .saturating_add(u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}
