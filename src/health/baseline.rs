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

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::threshold::State;

/// Largest relative error of a latency quantile against a sample at that rank (1 %).
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Ratio of consecutive bucket bounds: bucket `i` holds latencies in `(GAMMA^(i-1), GAMMA^i]`
/// microseconds, and reads as `2 GAMMA^i / (GAMMA + 1)`, at most [`RELATIVE_ACCURACY`] away
/// from any value inside it.
pub const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
/// Most non-empty buckets one slot keeps. Beyond that the two lowest are merged (the upper
/// quantiles the gates read stay exact); a slot rarely needs more than a few dozen.
pub const MAX_SLOT_BUCKETS: usize = 64;
/// Version of the histogram layout in [`BaselineSnapshot::layout`]. Snapshots of another
/// layout (older versions wrote 25 fixed buckets, without this field) keep their EWMAs but
/// relearn the histogram.
pub const LAYOUT: u32 = 2;

/// The bucket of a latency.
fn bucket_of(latency: Duration) -> u16 {
    let us = latency.as_secs_f64() * 1e6;
    if us <= 1.0 {
        return 0;
    }
    // At most ~2,220 for u64::MAX microseconds: always fits.
    let i = (us.ln() / GAMMA.ln()).ceil();
    if i >= f64::from(u16::MAX) {
        u16::MAX
    } else {
        i as u16
    }
}

/// The latency a bucket reads as.
fn bucket_value(index: u16) -> Duration {
    let us = 2.0 * GAMMA.powi(i32::from(index)) / (GAMMA + 1.0);
    Duration::try_from_secs_f64(us / 1e6).unwrap_or(Duration::MAX)
}

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

/// One time slot of the histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Which slot of the healthy clock this is (`healthy_ms / slot length`).
    pub epoch: u64,
    /// Learned samples, successes and failures.
    pub samples: u64,
    /// Successful samples per non-empty latency bucket, as `(bucket, count)` in ascending
    /// bucket order (see [`GAMMA`]); at most [`MAX_SLOT_BUCKETS`] entries.
    #[serde(default)]
    pub buckets: Vec<(u16, u32)>,
}

impl Slot {
    fn fresh(epoch: u64) -> Self {
        Slot {
            epoch,
            samples: 0,
            buckets: Vec::new(),
        }
    }

    /// Counts one successful latency.
    fn add(&mut self, latency: Duration) {
        let idx = bucket_of(latency);
        match self.buckets.binary_search_by_key(&idx, |b| b.0) {
            Ok(i) => {
                if let Some(b) = self.buckets.get_mut(i) {
                    b.1 = b.1.saturating_add(1);
                }
            }
            Err(0) if self.buckets.len() >= MAX_SLOT_BUCKETS => {
                // Below the lowest bucket of a full slot: the lowest bucket already stands
                // for "this low or lower".
                if let Some(b) = self.buckets.first_mut() {
                    b.1 = b.1.saturating_add(1);
                }
            }
            Err(i) if self.buckets.len() >= MAX_SLOT_BUCKETS => {
                // Full: merge the two lowest buckets, then insert (one position lower).
                let (_, lowest) = self.buckets.remove(0);
                if let Some(b) = self.buckets.first_mut() {
                    b.1 = b.1.saturating_add(lowest);
                }
                self.buckets.insert(i - 1, (idx, 1));
            }
            Err(i) => self.buckets.insert(i, (idx, 1)),
        }
    }

    /// Buckets in ascending order, none repeated, at most [`MAX_SLOT_BUCKETS`].
    fn well_formed(&self) -> bool {
        self.buckets.len() <= MAX_SLOT_BUCKETS && self.buckets.windows(2).all(|w| w[0].0 < w[1].0)
    }
}

/// Everything a [`Baseline`] knows, for persistence. Restore with [`Baseline::from_snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineSnapshot {
    /// Histogram layout ([`LAYOUT`]); 0 in snapshots written before the field existed.
    #[serde(default)]
    pub layout: u32,
    /// The healthy clock: milliseconds of learned operation.
    pub healthy_ms: u64,
    /// Wall time (unix ms) of the last learned sample.
    pub last_ms: Option<u64>,
    /// Decayed sum and weight of successful latencies (ms): EWMA = sum / weight.
    pub latency_sum: f64,
    pub latency_weight: f64,
    /// Decayed sum (failures) and weight (all samples): EWMA error rate = sum / weight.
    pub error_sum: f64,
    pub error_weight: f64,
    /// Ring of histogram slots, indexed by `epoch % slots`.
    pub slots: Vec<Slot>,
}

/// A persisted baseline as a service's state carries it. The loop copies and compares a
/// service's state every tick; shared, a copy costs a pointer and comparing two copies of the
/// same snapshot a pointer compare (at 10,000 services the deep copies were a third of a tick).
#[derive(Debug, Clone)]
pub struct SharedSnapshot(std::sync::Arc<BaselineSnapshot>);

impl SharedSnapshot {
    /// The snapshot itself.
    pub fn get(&self) -> &BaselineSnapshot {
        &self.0
    }
}

impl From<BaselineSnapshot> for SharedSnapshot {
    fn from(s: BaselineSnapshot) -> Self {
        SharedSnapshot(std::sync::Arc::new(s))
    }
}

impl PartialEq for SharedSnapshot {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Serialize for SharedSnapshot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedSnapshot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BaselineSnapshot::deserialize(d).map(SharedSnapshot::from)
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
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;
    const STEP: u64 = 5_000;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Feeds `n` results 5 s apart starting at `*t`, latency from `lat(i)`, failure every
    /// `fail_every`-th (0 = never), as an Up target without incident.
    fn feed(b: &mut Baseline, t: &mut u64, n: u64, fail_every: u64, lat: impl Fn(u64) -> Duration) {
        for i in 0..n {
            let ok = fail_every == 0 || (i + 1) % fail_every != 0;
            b.observe(ok, lat(i), *t, State::Up, false);
            *t += STEP;
        }
    }

    fn baseline() -> Result<Baseline, BaselineConfigError> {
        Baseline::new(BaselineConfig::default())
    }

    #[test]
    fn cold_until_min_samples() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        assert!(!b.is_warm());
        assert_eq!(b.latency_p95(), None);
        assert_eq!(b.error_rate(), None);
        assert!(b
            .within(ms(1), 0.0, 2.0)
            .is_err_and(|e| e.contains("not warm")));
        feed(&mut b, &mut t, 59, 0, |_| ms(20));
        assert!(!b.is_warm());
        feed(&mut b, &mut t, 1, 0, |_| ms(20));
        assert!(b.is_warm());
        Ok(())
    }

    #[test]
    fn percentiles_track_the_latency_distribution() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        // 1..=100 ms, uniformly: p50 ~ 50 ms, p95 ~ 95 ms (within bucket resolution).
        feed(&mut b, &mut t, 100, 0, |i| ms(i + 1));
        let p50 = b.latency_p50().map(|d| d.as_millis()).unwrap_or(0);
        let p95 = b.latency_p95().map(|d| d.as_millis()).unwrap_or(0);
        assert!((40..=60).contains(&p50), "p50 {p50}");
        assert!((85..=100).contains(&p95), "p95 {p95}");
        let ewma = b.latency_ewma().map(|d| d.as_millis()).unwrap_or(0);
        assert!((40..=100).contains(&ewma), "ewma {ewma}");
        Ok(())
    }

    #[test]
    fn error_rate_is_an_ewma() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 200, 10, |_| ms(20));
        let e = b.error_rate().unwrap_or(1.0);
        assert!((0.07..=0.13).contains(&e), "error rate {e}");
        // Clean for a long time: the old errors decay away.
        feed(&mut b, &mut t, 2000, 0, |_| ms(20));
        assert!(b.error_rate().unwrap_or(1.0) < 0.001);
        Ok(())
    }

    #[test]
    fn learns_only_while_up_and_outside_incidents() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 100, 0, |_| ms(20));
        let before = b.summary();
        assert!(!b.observe(false, ms(2000), t, State::Down, false));
        assert!(!b.observe(false, ms(2000), t, State::Unknown, false));
        assert!(!b.observe(true, ms(2000), t, State::Up, true));
        assert_eq!(b.summary(), before);
        assert!(b.observe(true, ms(20), t, State::Up, false));
        Ok(())
    }

    #[test]
    fn window_is_the_last_hour_of_healthy_operation() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 720, 0, |_| ms(200)); // one healthy hour at 200 ms
                                                   // A day-long outage: nothing learned, and it does not age the window.
        t += 24 * 3600 * 1000;
        assert!(b.is_warm(), "an outage does not cool the baseline");
        assert_eq!(b.latency_p95(), b.latency_quantile(0.95));
        // Another healthy hour at 20 ms replaces the 200 ms hour.
        feed(&mut b, &mut t, 720, 0, |_| ms(20));
        let p95 = b.latency_p95().map(|d| d.as_millis()).unwrap_or(0);
        assert!(p95 <= 20, "old hour dropped, p95 {p95}");
        assert!(b.samples() <= 720, "{} samples", b.samples());
        Ok(())
    }

    #[test]
    fn gate_explains_which_limit_was_exceeded() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 200, 20, |_| ms(100)); // 5% errors, ~100 ms
        let p95 = b.latency_p95().unwrap_or_default();
        assert!(b.within(p95, 0.05, 2.0).is_ok());
        let slow = b.within(p95 * 3, 0.05, 2.0);
        assert!(
            slow.as_ref()
                .is_err_and(|e| e.contains("latency") && !e.contains("error rate")),
            "{slow:?}"
        );
        let errs = b.within(p95, 0.5, 2.0);
        assert!(
            errs.as_ref()
                .is_err_and(|e| e.contains("error rate") && !e.contains("latency")),
            "{errs:?}"
        );
        let both = b.within(p95 * 3, 0.5, 2.0);
        assert!(both
            .as_ref()
            .is_err_and(|e| e.contains("latency") && e.contains("error rate")));
        assert!(b.within(p95, f64::NAN, 2.0).is_err());
        assert!(b
            .within(p95, 0.0, f64::NAN)
            .is_err_and(|e| e.contains("factor")));
        Ok(())
    }

    #[test]
    fn floors_keep_tiny_baselines_usable() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 100, 0, |_| ms(1)); // 1 ms, zero errors
        assert!(
            b.within(ms(8), 0.005, 2.0).is_ok(),
            "within the 10 ms and 1% floors"
        );
        assert!(b.within(ms(12), 0.0, 2.0).is_err());
        assert!(b.within(ms(1), 0.02, 2.0).is_err());
        Ok(())
    }

    #[test]
    fn compare_against_a_canary_measurement() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 200, 0, |_| ms(50));
        let mut canary = Baseline::new(BaselineConfig {
            min_samples: 10,
            ..BaselineConfig::default()
        })?;
        for i in 0..30 {
            canary.learn(true, ms(60), t + i * STEP);
        }
        assert!(b.compare(&canary.summary(), 2.0).is_ok());
        let mut bad = canary.clone();
        for i in 30..60 {
            bad.learn(true, ms(400), t + i * STEP);
        }
        assert!(b
            .compare(&bad.summary(), 2.0)
            .is_err_and(|e| e.contains("latency")));
        let empty = Baseline::new(BaselineConfig::default())?.summary();
        assert!(b.compare(&empty, 2.0).is_err());
        Ok(())
    }

    #[test]
    fn snapshot_round_trips_through_json() -> Result<(), Box<dyn std::error::Error>> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 150, 7, |i| ms(10 + i % 30));
        let json = serde_json::to_string(b.snapshot())?;
        let snap: BaselineSnapshot = serde_json::from_str(&json)?;
        let r = Baseline::from_snapshot(BaselineConfig::default(), snap)?;
        let (got, want) = (r.summary(), b.summary());
        assert_eq!(
            (got.samples, got.latency_p50, got.latency_p95, got.warm),
            (want.samples, want.latency_p50, want.latency_p95, want.warm)
        );
        let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => false,
        };
        assert!(close(got.error_rate, want.error_rate));
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        assert!(close(secs(got.latency_ewma), secs(want.latency_ewma)));
        // Learning continues on the restored clock.
        let mut r2 = r.clone();
        r2.observe(true, ms(10), t, State::Up, false);
        assert_eq!(r2.samples(), b.samples() + 1);
        Ok(())
    }

    #[test]
    fn mismatched_or_damaged_snapshot_is_dropped_not_trusted() -> Result<(), BaselineConfigError> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 100, 0, |_| ms(20));
        let other = BaselineConfig {
            slots: 6,
            ..BaselineConfig::default()
        };
        let r = Baseline::from_snapshot(other, b.snapshot().clone())?;
        assert_eq!(r.samples(), 0, "histogram layout changed: relearn");
        assert!(r.error_rate().is_some(), "EWMAs still fit");
        let mut damaged = b.snapshot().clone();
        damaged.error_sum = f64::NAN;
        let r = Baseline::from_snapshot(BaselineConfig::default(), damaged)?;
        assert_eq!(r.error_rate(), None);
        assert_eq!(r.samples(), b.samples());
        Ok(())
    }

    /// The sample at nearest rank `ceil(q n)` of `values`.
    fn true_quantile(values: &mut [u64], q: f64) -> u64 {
        values.sort_unstable();
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    }

    fn relative_error(got: Option<Duration>, want_ms: u64) -> f64 {
        let got = got.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN);
        (got - want_ms as f64).abs() / want_ms as f64
    }

    #[test]
    fn p95_of_slow_probes_is_accurate_within_two_percent() -> Result<(), BaselineConfigError> {
        // Probes of 2,001-2,015 ms: the old fixed buckets said 2,900 ms (a 45 % looser gate).
        let mut b = baseline()?;
        let mut t = T0;
        let lat = |i: u64| ms(2001 + (i * 7) % 15);
        feed(&mut b, &mut t, 300, 0, lat);
        let mut values: Vec<u64> = (0..300).map(|i| 2001 + (i * 7) % 15).collect();
        let p95 = true_quantile(&mut values, 0.95);
        let err = relative_error(b.latency_p95(), p95);
        assert!(
            err <= 0.02,
            "p95 {:?} vs true {p95} ms: {err}",
            b.latency_p95()
        );
        let p50 = true_quantile(&mut values, 0.5);
        assert!(relative_error(b.latency_p50(), p50) <= 0.02);
        // And the gate is as tight as configured: 2x the real p95, not 2x 2,900 ms.
        assert!(b.within(ms(3950), 0.0, 2.0).is_ok());
        assert!(b.within(ms(4150), 0.0, 2.0).is_err());
        Ok(())
    }

    #[test]
    fn quantiles_of_a_bimodal_distribution() -> Result<(), BaselineConfigError> {
        // 90 % fast (20-29 ms), 10 % slow (800-899 ms): p50 is fast, p95 is slow.
        let mut b = baseline()?;
        let mut t = T0;
        let lat = |i: u64| {
            if i % 10 == 9 {
                800 + (i * 13) % 100
            } else {
                20 + (i * 3) % 10
            }
        };
        feed(&mut b, &mut t, 600, 0, |i| ms(lat(i)));
        let mut values: Vec<u64> = (0..600).map(lat).collect();
        for q in [0.5, 0.9, 0.95, 0.99] {
            let want = true_quantile(&mut values, q);
            let got = b.latency_quantile(q);
            assert!(
                relative_error(got, want) <= 0.02,
                "q{q}: {got:?} vs true {want} ms"
            );
        }
        let p50 = b.latency_p50().unwrap_or_default();
        let p95 = b.latency_p95().unwrap_or_default();
        assert!(p50 < ms(30) && p95 > ms(790), "p50 {p50:?}, p95 {p95:?}");
        Ok(())
    }

    #[test]
    fn accurate_from_a_millisecond_to_a_minute() {
        for us in [
            900u64, 1_000, 3_333, 47_000, 250_000, 2_014_000, 29_999_000, 60_000_000,
        ] {
            let d = Duration::from_micros(us);
            let read = bucket_value(bucket_of(d)).as_secs_f64();
            let err = (read - d.as_secs_f64()).abs() / d.as_secs_f64();
            assert!(err <= RELATIVE_ACCURACY + 1e-9, "{us} us reads as {read} s");
        }
        assert_eq!(bucket_of(Duration::ZERO), 0);
        assert!(bucket_of(Duration::MAX) > 0);
    }

    #[test]
    fn a_wide_spread_keeps_the_slot_small_and_the_upper_quantiles_exact(
    ) -> Result<(), BaselineConfigError> {
        // Every sample in its own bucket, 1 ms to ~13 s, all within one 5-minute slot.
        let mut b = baseline()?;
        let mut values = Vec::new();
        for i in 0..300u64 {
            let v = (1.033f64.powi(i as i32) * 1000.0) as u64; // microseconds
            values.push(v);
            b.learn(true, Duration::from_micros(v), T0 + i);
        }
        assert!(b
            .snapshot()
            .slots
            .iter()
            .all(|s| s.buckets.len() <= MAX_SLOT_BUCKETS));
        let want = true_quantile(&mut values, 0.95) as f64 / 1000.0;
        let got = b
            .latency_p95()
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        assert!(
            (got - want).abs() / want <= 0.02,
            "p95 {got} ms vs {want} ms"
        );
        let json = serde_json::to_string(b.snapshot()).unwrap_or_default();
        assert!(json.len() < 4096, "{} bytes", json.len());
        Ok(())
    }

    #[test]
    fn snapshot_round_trip_keeps_the_quantiles_exactly() -> Result<(), Box<dyn std::error::Error>> {
        let mut b = baseline()?;
        let mut t = T0;
        feed(&mut b, &mut t, 800, 9, |i| ms(2001 + i % 15));
        let json = serde_json::to_string(b.snapshot())?;
        let snap: BaselineSnapshot = serde_json::from_str(&json)?;
        assert_eq!(&snap, b.snapshot());
        let r = Baseline::from_snapshot(BaselineConfig::default(), snap)?;
        for q in [0.0, 0.5, 0.95, 1.0] {
            assert_eq!(r.latency_quantile(q), b.latency_quantile(q), "q{q}");
        }
        assert_eq!(r.samples(), b.samples());
        assert!(r.is_warm());
        Ok(())
    }

    #[test]
    fn an_old_fixed_bucket_snapshot_loads_without_panic_and_relearns(
    ) -> Result<(), Box<dyn std::error::Error>> {
        // As written by earlier versions: 25 fixed buckets per slot, no `layout`.
        let counts = format!("[{}]", vec!["3"; 25].join(","));
        let slots: Vec<String> = (0..12)
            .map(|e| format!(r#"{{"epoch":{e},"samples":75,"counts":{counts}}}"#))
            .collect();
        let json = format!(
            r#"{{"healthy_ms":3600000,"last_ms":{T0},"latency_sum":20.0,"latency_weight":1.0,"error_sum":0.0,"error_weight":1.0,"slots":[{}]}}"#,
            slots.join(",")
        );
        let snap: BaselineSnapshot = serde_json::from_str(&json)?;
        assert_eq!(snap.layout, 0);
        let mut r = Baseline::from_snapshot(BaselineConfig::default(), snap)?;
        assert_eq!(r.samples(), 0, "the old histogram is not trusted");
        assert!(!r.is_warm());
        assert_eq!(r.latency_p95(), None);
        assert!(r.latency_ewma().is_some(), "the EWMAs still fit");
        let mut t = T0 + STEP;
        feed(&mut r, &mut t, 60, 0, |_| ms(20));
        assert!(r.is_warm());
        assert_eq!(r.snapshot().layout, LAYOUT);
        // A damaged new-layout snapshot (buckets out of order) is dropped the same way.
        let mut bad = r.snapshot().clone();
        if let Some(s) = bad.slots.iter_mut().find(|s| !s.buckets.is_empty()) {
            s.buckets.push((0, 1));
        }
        let r2 = Baseline::from_snapshot(BaselineConfig::default(), bad)?;
        assert_eq!(r2.samples(), 0);
        Ok(())
    }

    #[test]
    fn rejects_unusable_configurations() {
        let with = |f: fn(&mut BaselineConfig)| {
            let mut c = BaselineConfig::default();
            f(&mut c);
            Baseline::new(c).err()
        };
        assert_eq!(
            with(|c| c.half_life = Duration::ZERO),
            Some(BaselineConfigError::HalfLife)
        );
        assert_eq!(with(|c| c.slots = 0), Some(BaselineConfigError::Window));
        assert_eq!(
            with(|c| c.window = Duration::ZERO),
            Some(BaselineConfigError::Window)
        );
        assert!(matches!(
            with(|c| c.error_rate_floor = f64::NAN),
            Some(BaselineConfigError::ErrorFloor(_))
        ));
        assert_eq!(with(|_| {}), None);
    }
}
