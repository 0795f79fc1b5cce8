//! One check's memory (health stage: probe -> **health** -> policy): its judge (thresholds or
//! window), its last error and latency, the recent samples the baseline and canary gates
//! read (kept only for a primary's checks, released once used), and a bounded history for the
//! status page.

use std::collections::VecDeque;

use super::history::History;
use super::window::AnyJudge;
use crate::probe::Role;

impl CheckTracker {
    pub(super) fn new(c: &crate::config::Check) -> Self {
        let judge = match c.window {
            Some((n, k)) => AnyJudge::window(n, k, n.min(3), c.max_latency)
                .unwrap_or_else(|_| AnyJudge::rise_fall(c.rise, c.fall, c.max_latency)),
            None => AnyJudge::rise_fall(c.rise, c.fall, c.max_latency),
        };
        CheckTracker {
            judge,
            role: c.spec.role(),
            last_error: None,
            last_latency_ms: None,
            samples: VecDeque::new(),
            sampled: false,
            history: History::default(),
        }
    }
}

pub(super) struct CheckTracker {
    pub(super) judge: AnyJudge,
    pub(super) role: Role,
    pub(super) last_error: Option<String>,
    pub(super) last_latency_ms: Option<u64>,
    /// Recent results with their wall time, for canary gates and baselines.
    pub(super) samples: VecDeque<Sample>,
    /// Whether `samples` are kept for this check (a primary's checks).
    pub(super) sampled: bool,
    /// The last two hours in 5-minute buckets, for the status page's charts.
    pub(super) history: History,
}

/// Results kept per check: enough for a canary step of several minutes at 1 s intervals.
pub(super) const SAMPLES_KEPT: usize = 2048;

#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) at_ms: u64,
    pub(super) ok: bool,
    pub(super) latency_ms: u64,
}
