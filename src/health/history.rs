//! A compact, bounded record of each check's recent results, for the status page's charts
//! (health stage: probe -> **health** -> policy; read only by the status page, never by a
//! decision).
//!
//! Each check keeps [`BUCKETS`] buckets of [`BUCKET_MS`] (the last two hours in 5-minute
//! steps): results that passed, results that failed, and the summed latency of the passing
//! ones. 8 bytes a bucket, 196 bytes a check, kept inline in the check's tracker (no
//! allocation): at 10,000 services with two single-check targets about 3.9 MB. The samples
//! the canary gates read are too short-lived for a chart (released once read), and keeping
//! every result for two hours would cost ~7,200 samples a check at 1 s intervals.

use serde::{Deserialize, Serialize};

use super::HealthBook;

/// How many buckets a check keeps.
pub const BUCKETS: usize = 24;

/// The span of one bucket (5 minutes): with [`BUCKETS`], two hours of history.
pub const BUCKET_MS: u64 = 5 * 60 * 1000;

/// One bucket as stored: counts saturate (a 5-minute bucket sees at most a few hundred
/// results at the shortest intervals), so 16 bits are plenty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    ok: u16,
    failed: u16,
    /// Sum of the passing results' latencies, ms (saturating).
    ok_latency_ms: u32,
}

/// The last [`BUCKETS`] buckets of one check's results: a ring indexed by bucket number
/// (unix ms / [`BUCKET_MS`]), `newest` being the number of the latest bucket written.
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    slots: [Slot; BUCKETS],
    newest: u32,
}

impl History {
    /// Counts one result seen at `now_ms` (unix ms). A result older than the ring is dropped;
    /// a newer bucket clears the buckets skipped since the last result.
    pub(super) fn record(&mut self, now_ms: u64, ok: bool, latency_ms: u64) {
        let Ok(bucket) = u32::try_from(now_ms / BUCKET_MS) else {
            return;
        };
        if bucket > self.newest {
            let skipped = (bucket - self.newest).min(BUCKETS as u32);
            for i in 0..skipped {
                self.slots[((bucket - i) as usize) % BUCKETS] = Slot::default();
            }
            self.newest = bucket;
        } else if self.newest - bucket >= BUCKETS as u32 {
            return;
        }
        let slot = &mut self.slots[(bucket as usize) % BUCKETS];
        if ok {
            slot.ok = slot.ok.saturating_add(1);
            let ms = u32::try_from(latency_ms).unwrap_or(u32::MAX);
            slot.ok_latency_ms = slot.ok_latency_ms.saturating_add(ms);
        } else {
            slot.failed = slot.failed.saturating_add(1);
        }
    }

    /// Adds this ring's buckets to `into` (oldest first, ending with the bucket of `now_ms`),
    /// as sums of counts and latencies.
    fn add_to(&self, now_ms: u64, into: &mut [Sum; BUCKETS]) {
        let Ok(now) = u32::try_from(now_ms / BUCKET_MS) else {
            return;
        };
        for (i, sum) in into.iter_mut().enumerate() {
            // Bucket number of position i: now - (BUCKETS - 1 - i).
            let Some(bucket) = now.checked_sub((BUCKETS - 1 - i) as u32) else {
                continue;
            };
            if bucket > self.newest || self.newest - bucket >= BUCKETS as u32 {
                continue;
            }
            let s = self.slots[(bucket as usize) % BUCKETS];
            sum.ok += u64::from(s.ok);
            sum.failed += u64::from(s.failed);
            sum.latency += u64::from(s.ok_latency_ms);
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    ok: u64,
    failed: u64,
    latency: u64,
}

/// One bucket of a target's history, summed over its checks: what a chart plots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryBucket {
    /// Start of the bucket (unix ms).
    pub start_ms: u64,
    /// Results that passed.
    pub ok: u64,
    /// Results that failed.
    pub failed: u64,
    /// Mean latency of the passing results, `None` when none passed.
    pub mean_latency_ms: Option<u64>,
}

impl HistoryBucket {
    /// Passed share of the results (0.0-1.0), `None` without results.
    pub fn availability(&self) -> Option<f64> {
        let n = self.ok + self.failed;
        (n > 0).then(|| self.ok as f64 / n as f64)
    }
}

/// A target's last [`BUCKETS`] buckets, oldest first, the last one being the current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHistory {
    pub target: String,
    pub buckets: Vec<HistoryBucket>,
}

impl HealthBook {
    /// Every target of `service` with its results over the last two hours as of `now_ms`,
    /// in configuration order; empty for an unknown service.
    pub fn history(&self, service: &str, now_ms: u64) -> Vec<TargetHistory> {
        let Some(targets) = self.layout.get(service) else {
            return Vec::new();
        };
        let first = (now_ms / BUCKET_MS).saturating_sub(BUCKETS as u64 - 1);
        targets
            .iter()
            .map(|e| {
                let mut sums = [Sum::default(); BUCKETS];
                for id in &e.ids {
                    if let Some(t) = self.checks.get(id) {
                        t.history.add_to(now_ms, &mut sums);
                    }
                }
                let buckets = sums
                    .iter()
                    .enumerate()
                    .map(|(i, s)| HistoryBucket {
                        start_ms: (first + i as u64) * BUCKET_MS,
                        ok: s.ok,
                        failed: s.failed,
                        mean_latency_ms: (s.ok > 0).then(|| s.latency / s.ok),
                    })
                    .collect();
                TargetHistory {
                    target: e.name.clone(),
                    buckets,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn read(h: &History, now_ms: u64) -> [Sum; BUCKETS] {
        let mut s = [Sum::default(); BUCKETS];
        h.add_to(now_ms, &mut s);
        s
    }

    #[test]
    fn a_check_costs_under_two_hundred_bytes() {
        assert_eq!(std::mem::size_of::<History>(), 196);
    }

    #[test]
    fn results_land_in_their_bucket_and_old_buckets_are_cleared() {
        let mut h = History::default();
        h.record(T0, true, 10);
        h.record(T0 + 1, true, 30);
        h.record(T0 + 2, false, 5000);
        let s = read(&h, T0);
        let last = s[BUCKETS - 1];
        assert_eq!((last.ok, last.failed, last.latency), (2, 1, 40));
        // One bucket later: the first result is one position further back.
        h.record(T0 + BUCKET_MS, false, 0);
        let s = read(&h, T0 + BUCKET_MS);
        assert_eq!((s[BUCKETS - 2].ok, s[BUCKETS - 1].failed), (2, 1));
        // A whole ring later everything old is gone; a result older than the ring is dropped.
        let later = T0 + BUCKET_MS * (BUCKETS as u64 + 3);
        h.record(later, true, 7);
        h.record(T0, true, 7);
        let s = read(&h, later);
        assert_eq!(s.iter().map(|x| x.ok + x.failed).sum::<u64>(), 1);
        assert_eq!(s[BUCKETS - 1].latency, 7);
    }

    #[test]
    fn reading_later_than_the_last_result_shifts_it_back_and_counts_saturate() {
        let mut h = History::default();
        for _ in 0..70_000 {
            h.record(T0, true, 100_000);
        }
        let s = read(&h, T0 + 2 * BUCKET_MS);
        assert_eq!(s[BUCKETS - 3].ok, u64::from(u16::MAX));
        assert_eq!(s[BUCKETS - 3].latency, u64::from(u32::MAX));
        assert_eq!(s[BUCKETS - 1].ok, 0);
        // Read far beyond the ring: nothing left.
        let s = read(&h, T0 + BUCKET_MS * BUCKETS as u64);
        assert!(s.iter().all(|x| x.ok == 0));
    }
}
