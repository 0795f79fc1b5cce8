//! Probe results into the health book, and the samples read back out of it (health stage:
//! probe -> **health** -> policy): each result updates its check's judge; a primary's results
//! are kept as samples for the baseline and the canary gates, and released once read.

use super::check::{Sample, SAMPLES_KEPT};
use super::window::Judge;
use super::{p95, CheckTracker, HealthBook, StepStats};
use crate::probe::ProbeResult;

impl HealthBook {
    /// Feeds one probe result seen at `now_ms` (unix ms); unknown check ids are ignored (a
    /// reload removed the check).
    pub fn observe(&mut self, r: &ProbeResult, now_ms: u64) {
        if let Some(t) = self.checks.get_mut(&r.check) {
            t.judge.observe(r.outcome.is_ok(), r.outcome.latency);
            t.last_error = r.outcome.result.as_ref().err().map(|e| e.to_string());
            let latency_ms = u64::try_from(r.outcome.latency.as_millis()).unwrap_or(u64::MAX);
            t.last_latency_ms = Some(latency_ms);
            t.history.record(now_ms, r.outcome.is_ok(), latency_ms);
            if !self.keep_samples || !t.sampled {
                return;
            }
            if t.samples.len() == SAMPLES_KEPT {
                t.samples.pop_front();
            }
            t.samples.push_back(Sample {
                at_ms: now_ms,
                ok: r.outcome.is_ok(),
                latency_ms,
            });
        }
    }

    /// A target's samples since `since_ms`, oldest first per check. Walks back from the newest
    /// only as far as needed: the cost is the answer's size, not the samples kept.
    fn target_samples(&self, service: &str, target: &str, since_ms: u64) -> Vec<Sample> {
        self.collect_since(service, target, since_ms, |s| *s)
    }

    /// [`Self::target_samples`], each sample as `each` makes it.
    fn collect_since<T>(
        &self,
        service: &str,
        target: &str,
        since_ms: u64,
        each: impl Fn(&Sample) -> T,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for t in self.target_checks(service, target) {
            let start = out.len();
            out.extend(
                t.samples
                    .iter()
                    .rev()
                    .take_while(|s| s.at_ms >= since_ms)
                    .map(&each),
            );
            out[start..].reverse();
        }
        out
    }

    fn target_checks<'a>(
        &'a self,
        service: &str,
        target: &str,
    ) -> impl Iterator<Item = &'a CheckTracker> + 'a {
        self.layout
            .get(service)
            .and_then(|ts| ts.iter().find(|e| e.name == target))
            .map(|e| e.ids.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|id| self.checks.get(id))
    }

    /// Forgets a target's samples older than `before_ms`: the loop calls it once it has taken
    /// what it needs (the baseline has learnt them; no canary step reads them), so memory
    /// stays a few samples per check however long the controller runs, not the 2,048 kept at most.
    pub fn release_samples(&mut self, service: &str, target: &str, before_ms: u64) {
        let Some(ids) = self
            .layout
            .get(service)
            .and_then(|ts| ts.iter().find(|e| e.name == target))
            .map(|e| e.ids.as_slice())
        else {
            return;
        };
        for id in ids {
            if let Some(t) = self.checks.get_mut(id) {
                while t.samples.front().is_some_and(|s| s.at_ms < before_ms) {
                    t.samples.pop_front();
                }
                if t.samples.is_empty() && t.samples.capacity() > 64 {
                    t.samples.shrink_to(16);
                }
            }
        }
    }

    /// Stops keeping samples (a probe agent reports states, never samples).
    pub fn without_samples(mut self) -> Self {
        self.keep_samples = false;
        self
    }

    /// A target's results since `since_ms` as (unix ms, ok, latency ms), for its baseline.
    pub fn samples_since(
        &self,
        service: &str,
        target: &str,
        since_ms: u64,
    ) -> Vec<(u64, bool, u64)> {
        self.collect_since(service, target, since_ms, |s| (s.at_ms, s.ok, s.latency_ms))
    }

    /// A target's results since `since_ms`: count, failures and p95 latency of successes.
    pub fn stats_since(&self, service: &str, target: &str, since_ms: u64) -> StepStats {
        let samples = self.target_samples(service, target, since_ms);
        StepStats {
            samples: samples.len() as u64,
            failures: samples.iter().filter(|s| !s.ok).count() as u64,
            p95_latency_ms: p95(samples
                .iter()
                .filter(|s| s.ok)
                .map(|s| s.latency_ms)
                .collect()),
        }
    }
}
