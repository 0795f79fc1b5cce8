//! The latency sketch of a baseline: log-spaced buckets (each about 2 % wide, read as their
//! middle) and the time [`Slot`]s that count them, sparse and capped at [`MAX_SLOT_BUCKETS`].
//!
//! Part of the health stage (probe -> **health** -> policy): a [`Baseline`](super::Baseline)
//! keeps a ring of slots and merges the live ones to read its p50/p95.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Largest relative error of a latency quantile against a sample at that rank (1 %).
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// Ratio of consecutive bucket bounds: bucket `i` holds latencies in `(GAMMA^(i-1), GAMMA^i]`
/// microseconds, and reads as `2 GAMMA^i / (GAMMA + 1)`, at most [`RELATIVE_ACCURACY`] away
/// from any value inside it.
pub const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
/// Most non-empty buckets one slot keeps. Beyond that the two lowest are merged (the upper
/// quantiles the gates read stay exact); a slot rarely needs more than a few dozen.
pub const MAX_SLOT_BUCKETS: usize = 64;
/// Version of the histogram layout in [`BaselineSnapshot::layout`](super::BaselineSnapshot::layout). Snapshots of another
/// layout (older versions wrote 25 fixed buckets, without this field) keep their EWMAs but
/// relearn the histogram.
pub const LAYOUT: u32 = 2;

/// The bucket of a latency.
pub(super) fn bucket_of(latency: Duration) -> u16 {
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
pub(super) fn bucket_value(index: u16) -> Duration {
    let us = 2.0 * GAMMA.powi(i32::from(index)) / (GAMMA + 1.0);
    Duration::try_from_secs_f64(us / 1e6).unwrap_or(Duration::MAX)
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
    /// An empty slot for `epoch`.
    pub(super) fn fresh(epoch: u64) -> Self {
        Slot {
            epoch,
            samples: 0,
            buckets: Vec::new(),
        }
    }

    /// Counts one successful latency.
    pub(super) fn add(&mut self, latency: Duration) {
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
    pub(super) fn well_formed(&self) -> bool {
        self.buckets.len() <= MAX_SLOT_BUCKETS && self.buckets.windows(2).all(|w| w[0].0 < w[1].0)
    }
}
