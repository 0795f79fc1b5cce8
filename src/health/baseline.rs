//! Per-target baseline: what "normal" latency and error rate look like for a healthy target.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. Probe
//! results feed a [`Baseline`] per target; the canary gates of a staged failback compare a
//! returning target's current numbers against it ("p95 within 2x of normal, errors within 2x of
//! normal") instead of against hand-tuned absolute limits.
//!
//! What is learned, and when:
//! * only while the target is **Up and no incident is open** ([`Baseline::observe`]); an
//!   outage must not teach the baseline that timeouts are normal;
//! * time is measured on a *healthy clock* that advances only between learned samples (gaps
//!   longer than [`BaselineConfig::max_gap`] count as `max_gap`), so "the last hour" means
//!   the last hour of healthy operation, however long ago the outage was;
//! * latency and error rate as time-weighted EWMAs with [`BaselineConfig::half_life`];
//! * latency p50/p95 from a log-spaced histogram kept in time slots covering
//!   [`BaselineConfig::window`] (ring of `slots`; the oldest slot is dropped whole). Bucket
//!   bounds grow by a factor [`GAMMA`] (about 2 %) and a quantile reads as its bucket's middle,
//!   so it is within [`RELATIVE_ACCURACY`] (1 %) of a sample at that rank, at any latency.
//!   Only non-empty buckets are stored (at most [`MAX_SLOT_BUCKETS`] per slot, the lowest
//!   merged beyond that), so a baseline stays at a few hundred bytes to a few KB. Only
//!   successful probes contribute latency (a failure's latency is mostly its timeout).
//!
//! All times are unix milliseconds passed in by the caller; [`BaselineSnapshot`] is serde
//! serializable so the baseline survives restarts.
//!
//! The histogram's buckets and slots are in `baseline/sketch.rs`, the persisted form in
//! `baseline/snapshot.rs`; the learning, the quantiles and the gate are here.

use std::time::Duration;

use serde::Serialize;

use super::threshold::State;

mod sketch;
mod snapshot;

use sketch::bucket_value;
pub use sketch::{Slot, GAMMA, LAYOUT, MAX_SLOT_BUCKETS, RELATIVE_ACCURACY};
pub use snapshot::{BaselineSnapshot, SharedSnapshot};

/// How the baseline learns and how lenient the gates are.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineConfig {
    /// Half-life of the latency and error-rate EWMAs, on the healthy clock (10 min).
    pub half_life: Duration,
    /// Horizon of the p50/p95 histogram, on the healthy clock (1 h).
    pub window: Duration,
    /// Slots the window is cut into (12, i.e. 5 min each); the oldest is dropped whole.
    pub slots: usize,
    /// Longest gap between learned samples that still counts as healthy time (60 s).
    pub max_gap: Duration,
    /// Samples needed within the window before the baseline is trusted by gates (60).
    pub min_samples: u64,
    /// Latency limit never below this, so a 1 ms baseline does not fail a 3 ms canary (10 ms).
    pub latency_floor: Duration,
    /// Error-rate limit never below this, so a spotless baseline allows a stray error (0.01).
    pub error_rate_floor: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            half_life: Duration::from_secs(600),
            window: Duration::from_secs(3600),
            slots: 12,
            max_gap: Duration::from_secs(60),
            min_samples: 60,
            latency_floor: Duration::from_millis(10),
            error_rate_floor: 0.01,
        }
    }
}

/// Why a [`BaselineConfig`] is rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineConfigError {
    /// The half-life must be positive, or the EWMA never moves.
    #[error("baseline half_life must be positive")]
    HalfLife,
    /// `slots` must be at least 1 and `window / slots` at least 1 ms.
    #[error("baseline window must be at least `slots` milliseconds and slots at least 1")]
    Window,
    /// The error-rate floor is a rate in [0, 1].
    #[error("baseline error_rate_floor must be in [0, 1], got {0}")]
    ErrorFloor(f64),
}

impl BaselineConfig {
    /// Checks the values; see [`BaselineConfigError`].
    pub fn validate(&self) -> Result<(), BaselineConfigError> {
        if self.half_life.is_zero() {
            return Err(BaselineConfigError::HalfLife);
        }
        if self.slots == 0 || self.slot_ms() == 0 {
            return Err(BaselineConfigError::Window);
        }
        if !(0.0..=1.0).contains(&self.error_rate_floor) {
            return Err(BaselineConfigError::ErrorFloor(self.error_rate_floor));
        }
        Ok(())
    }

    fn slot_ms(&self) -> u64 {
        let slots = u128::try_from(self.slots).unwrap_or(u128::MAX).max(1);
        u64::try_from(self.window.as_millis() / slots).unwrap_or(u64::MAX)
    }
}

/// A compact view of a baseline (or of a canary's current measurements), for gates and status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Samples within the window.
    pub samples: u64,
    pub latency_p50: Option<Duration>,
    pub latency_p95: Option<Duration>,
    pub latency_ewma: Option<Duration>,
    pub error_rate: Option<f64>,
    /// Enough samples for gates to trust it.
    pub warm: bool,
}

/// The rolling normal of one target.
#[derive(Debug, Clone)]
pub struct Baseline {
    config: BaselineConfig,
    s: BaselineSnapshot,
}

impl Baseline {
    /// An empty (cold) baseline.
    pub fn new(config: BaselineConfig) -> Result<Self, BaselineConfigError> {
        config.validate()?;
        let s = BaselineSnapshot {
            layout: LAYOUT,
            slots: vec![Slot::default(); config.slots],
            ..BaselineSnapshot::default()
        };
        Ok(Baseline { config, s })
    }

    /// Restores a persisted baseline under `config`. Parts that do not fit (a different slot
    /// count or histogram layout after an upgrade, such as the fixed buckets of older
    /// versions; non-finite numbers from a damaged file) are dropped rather than trusted: the
    /// baseline just has to warm up again. Only an unusable `config` is an error.
    pub fn from_snapshot(
        config: BaselineConfig,
        snapshot: BaselineSnapshot,
    ) -> Result<Self, BaselineConfigError> {
        let mut b = Baseline::new(config)?;
        let fits = snapshot.layout == LAYOUT
            && snapshot.slots.len() == b.config.slots
            && snapshot.slots.iter().all(Slot::well_formed);
        let sane = [
            snapshot.latency_sum,
            snapshot.latency_weight,
            snapshot.error_sum,
            snapshot.error_weight,
        ]
        .iter()
        .all(|v| v.is_finite() && *v >= 0.0);
        b.s.healthy_ms = snapshot.healthy_ms;
        b.s.last_ms = snapshot.last_ms;
        if fits {
            b.s.slots = snapshot.slots;
        }
        if sane {
            b.s.latency_sum = snapshot.latency_sum;
            b.s.latency_weight = snapshot.latency_weight;
            b.s.error_sum = snapshot.error_sum;
            b.s.error_weight = snapshot.error_weight;
        }
        Ok(b)
    }

    /// The state to persist.
    pub fn snapshot(&self) -> &BaselineSnapshot {
        &self.s
    }

    /// Feeds one probe result at `now_ms`, learning from it only when `target` is Up and no
    /// `incident` is open. Returns whether it was learned.
    pub fn observe(
        &mut self,
        ok: bool,
        latency: Duration,
        now_ms: u64,
        target: State,
        incident: bool,
    ) -> bool {
        if target != State::Up || incident {
            return false;
        }
        self.learn(ok, latency, now_ms);
        true
    }

    /// Learns one result unconditionally. For measurement windows whose samples are all
    /// relevant by construction, such as a canary's current numbers to [`compare`](Self::compare).
    pub fn learn(&mut self, ok: bool, latency: Duration, now_ms: u64) {
        let dt = match self.s.last_ms {
            Some(last) => now_ms
                .saturating_sub(last)
                .min(u64::try_from(self.config.max_gap.as_millis()).unwrap_or(u64::MAX)),
            None => 0,
        };
        self.s.last_ms = Some(self.s.last_ms.map_or(now_ms, |l| l.max(now_ms)));
        self.s.healthy_ms = self.s.healthy_ms.saturating_add(dt);

        let decay = 0.5f64.powf(dt as f64 / (self.config.half_life.as_secs_f64() * 1000.0));
        self.s.error_sum = self.s.error_sum * decay + if ok { 0.0 } else { 1.0 };
        self.s.error_weight = self.s.error_weight * decay + 1.0;
        self.s.latency_sum *= decay;
        self.s.latency_weight *= decay;
        if ok {
            self.s.latency_sum += latency.as_secs_f64() * 1000.0;
            self.s.latency_weight += 1.0;
        }

        let epoch = self.epoch();
        let n = self.s.slots.len().max(1);
        let idx = usize::try_from(epoch % n as u64).unwrap_or(0);
        if let Some(slot) = self.s.slots.get_mut(idx) {
            if slot.epoch != epoch || slot.samples == 0 {
                *slot = Slot::fresh(epoch);
            }
            slot.samples = slot.samples.saturating_add(1);
            if ok {
                slot.add(latency);
            }
        }
    }

    fn epoch(&self) -> u64 {
        self.s.healthy_ms / self.config.slot_ms().max(1)
    }

    /// Slots within the window of the healthy clock.
    fn live(&self) -> impl Iterator<Item = &Slot> {
        let now = self.epoch();
        let n = self.s.slots.len() as u64;
        self.s
            .slots
            .iter()
            .filter(move |s| s.samples > 0 && s.epoch <= now && now - s.epoch < n)
    }

    /// Samples (successes and failures) learned within the window.
    pub fn samples(&self) -> u64 {
        self.live().map(|s| s.samples).sum()
    }

    /// Enough samples within the window for gates to trust the baseline.
    pub fn is_warm(&self) -> bool {
        self.samples() >= self.config.min_samples.max(1)
    }

    /// The `q` quantile (0..=1) of successful latencies within the window, within
    /// [`RELATIVE_ACCURACY`] of the sample at that rank; `None` without successful samples.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        if q.is_nan() {
            return None;
        }
        // Merge the live slots' sparse buckets: at most slots x MAX_SLOT_BUCKETS entries.
        let mut merged: Vec<(u16, u64)> = self
            .live()
            .flat_map(|s| s.buckets.iter().map(|&(i, c)| (i, u64::from(c))))
            .collect();
        merged.sort_unstable_by_key(|b| b.0);
        let total: u64 = merged.iter().map(|b| b.1).sum();
        if total == 0 {
            return None;
        }
        // The sample of rank ceil(q * total) (1-based), as the nearest-rank definition.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (i, c) in merged {
            seen += c;
            if seen >= rank {
                return Some(bucket_value(i));
            }
        }
        None
    }

    /// Median successful latency within the window.
    pub fn latency_p50(&self) -> Option<Duration> {
        self.latency_quantile(0.5)
    }

    /// 95th percentile of successful latency within the window: the canary latency gate.
    pub fn latency_p95(&self) -> Option<Duration> {
        self.latency_quantile(0.95)
    }

    /// EWMA of successful latency.
    pub fn latency_ewma(&self) -> Option<Duration> {
        (self.s.latency_weight > 0.0)
            .then(|| Duration::from_secs_f64(self.s.latency_sum / self.s.latency_weight / 1000.0))
    }

    /// EWMA of the error rate (0..=1): the canary error gate.
    pub fn error_rate(&self) -> Option<f64> {
        (self.s.error_weight > 0.0)
            .then(|| (self.s.error_sum / self.s.error_weight).clamp(0.0, 1.0))
    }

    /// Everything a gate or a status page wants in one value.
    pub fn summary(&self) -> Summary {
        Summary {
            samples: self.samples(),
            latency_p50: self.latency_p50(),
            latency_p95: self.latency_p95(),
            latency_ewma: self.latency_ewma(),
            error_rate: self.error_rate(),
            warm: self.is_warm(),
        }
    }

    /// The canary gate: `Ok` when `latency` (the candidate's p95) is at most `factor` times the
    /// baseline p95 and `error_rate` at most `factor` times the baseline error rate, each limit
    /// raised to its configured floor. `Err` says which limits were exceeded, or why the
    /// comparison cannot be made (a cold baseline never passes a gate).
    pub fn within(&self, latency: Duration, error_rate: f64, factor: f64) -> Result<(), String> {
        if !(factor.is_finite() && factor > 0.0) {
            return Err(format!(
                "gate factor must be a positive number, got {factor}"
            ));
        }
        if !self.is_warm() {
            return Err(format!(
                "baseline not warm: {} of {} samples in the last {} s of healthy operation",
                self.samples(),
                self.config.min_samples,
                self.config.window.as_secs()
            ));
        }
        let (Some(p95), Some(base_err)) = (self.latency_p95(), self.error_rate()) else {
            return Err("baseline has no successful samples to compare with".to_string());
        };
        let mut exceeded = Vec::new();
        let limit = p95.mul_f64(factor).max(self.config.latency_floor);
        if latency > limit {
            exceeded.push(format!(
                "latency p95 {} ms exceeds limit {} ms ({factor}x baseline p95 {} ms)",
                latency.as_millis(),
                limit.as_millis(),
                p95.as_millis()
            ));
        }
        let err_limit = (base_err * factor).max(self.config.error_rate_floor);
        if error_rate.is_nan() || error_rate > err_limit {
            exceeded.push(format!(
                "error rate {:.2}% exceeds limit {:.2}% ({factor}x baseline {:.2}%)",
                error_rate * 100.0,
                err_limit * 100.0,
                base_err * 100.0
            ));
        }
        if exceeded.is_empty() {
            Ok(())
        } else {
            Err(exceeded.join("; "))
        }
    }

    /// [`within`](Self::within) for a candidate measured as a [`Summary`] (for instance the
    /// summary of a [`Baseline`] fed with [`learn`](Self::learn) during the canary).
    pub fn compare(&self, current: &Summary, factor: f64) -> Result<(), String> {
        let Some(p95) = current.latency_p95 else {
            return Err("current measurements have no successful samples".to_string());
        };
        let Some(err) = current.error_rate else {
            return Err("current measurements are empty".to_string());
        };
        self.within(p95, err, factor)
    }
}

#[cfg(test)]
mod tests;
