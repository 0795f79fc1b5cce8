//! Sliding-window judging, and the [`Judge`] trait shared with rise/fall [`Threshold`]s.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. A
//! [`Judge`] turns one check's stream of probe outcomes into [`State`]. Two judges exist:
//!
//! * [`Threshold`] (rise/fall): `fall` consecutive failures -> down, `rise` consecutive
//!   successes -> up. Good for clean on/off failures; blind to a backend that fails every
//!   other request, because a single success resets the failure count.
//! * [`SlidingWindow`] (k of n): down when at least `k` of the last `n` results failed. Catches
//!   intermittent failure that rise/fall never sees.
//!
//! Either judge can be told that a success slower than `max_latency` counts as a failure
//! ("slow counts as failing when configured"); see [`counts_as_ok`]. [`AnyJudge`] holds either
//! judge by value so that `HealthBook` can keep one per check without boxing.

use std::collections::VecDeque;
use std::time::Duration;

use super::threshold::{State, Threshold};

/// Turns one check's results into a state. Implemented by [`Threshold`], [`SlidingWindow`]
/// and [`AnyJudge`], so the health book does not care which rule a check was configured with.
pub trait Judge {
    /// Feeds one probe result (`ok` = the probe succeeded, `latency` = how long it took) and
    /// returns the (possibly new) state.
    fn observe(&mut self, ok: bool, latency: Duration) -> State;
    /// The current state, without feeding anything.
    fn state(&self) -> State;
}

/// Whether a result counts as a success: the probe succeeded and, when `max_latency` is set,
/// was not slower than it. A slow success is a failure because users feel a slow backend as a
/// broken one; a result exactly at the limit still passes.
pub fn counts_as_ok(ok: bool, latency: Duration, max_latency: Option<Duration>) -> bool {
    ok && max_latency.is_none_or(|max| latency <= max)
}

/// Rise/fall ignores latency here; wrap it in [`AnyJudge::rise_fall`] with a `max_latency` to
/// make slow successes count as failures.
impl Judge for Threshold {
    fn observe(&mut self, ok: bool, _latency: Duration) -> State {
        Threshold::observe(self, ok)
    }

    fn state(&self) -> State {
        Threshold::state(self)
    }
}

/// Why a [`SlidingWindow`] cannot be built: the configuration would judge nothing sensibly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// `n` (the window size) must be at least 1.
    #[error("window size n must be at least 1")]
    EmptyWindow,
    /// `k` must be between 1 and `n`: 0 would make every target down, more than `n` never.
    #[error("failures k must be between 1 and the window size n = {n}, got {k}")]
    BadFailures { k: usize, n: usize },
    /// `min_samples` must be at least 1, or a target would be up with no evidence at all.
    #[error("min_samples must be at least 1")]
    NoSamples,
}

/// k-of-n judge: looks at the last `n` results of one check.
///
/// Rules, evaluated after every result:
/// * **Down** when the failures among the last `n` results are `>= k` (no minimum: `k`
///   failures are evidence enough, even right after start).
/// * **Up** when the failures among the last `n` results are `< k` and at least `min_samples`
///   results were seen in total.
/// * **Unknown** otherwise (fewer than `min_samples` results and fewer than `k` failures).
///
/// After `k` consecutive failures it therefore takes `n - k + 1` consecutive successes to
/// come back up: the failures must age out of the window.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    n: usize,
    k: usize,
    min_samples: usize,
    max_latency: Option<Duration>,
    /// The last `n` results, oldest first; `true` = failure (after the latency rule).
    failed: VecDeque<bool>,
    failures: usize,
    seen: usize,
    state: State,
}

impl SlidingWindow {
    /// A window of `n` results, down at `k` failures, up after `min_samples` results; starts
    /// [`State::Unknown`]. Rejects configurations that could never judge sensibly.
    pub fn new(n: usize, k: usize, min_samples: usize) -> Result<Self, WindowError> {
        if n == 0 {
            return Err(WindowError::EmptyWindow);
        }
        if k == 0 || k > n {
            return Err(WindowError::BadFailures { k, n });
        }
        if min_samples == 0 {
            return Err(WindowError::NoSamples);
        }
        Ok(SlidingWindow {
            n,
            k,
            min_samples,
            max_latency: None,
            failed: VecDeque::with_capacity(n),
            failures: 0,
            seen: 0,
            state: State::Unknown,
        })
    }

    /// Counts a success slower than `max` as a failure (`None` = latency never matters).
    pub fn with_max_latency(mut self, max: Option<Duration>) -> Self {
        self.max_latency = max;
        self
    }

    /// Failures among the last `n` results, for status output ("3 of the last 10 failed").
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Results currently in the window (at most `n`).
    pub fn len(&self) -> usize {
        self.failed.len()
    }

    /// True before the first result.
    pub fn is_empty(&self) -> bool {
        self.failed.is_empty()
    }
}

impl Judge for SlidingWindow {
    fn observe(&mut self, ok: bool, latency: Duration) -> State {
        let failed = !counts_as_ok(ok, latency, self.max_latency);
        if self.failed.len() == self.n {
            if let Some(true) = self.failed.pop_front() {
                self.failures = self.failures.saturating_sub(1);
            }
        }
        self.failed.push_back(failed);
        if failed {
            self.failures += 1;
        }
        self.seen = self.seen.saturating_add(1);
        self.state = if self.failures >= self.k {
            State::Down
        } else if self.seen >= self.min_samples {
            State::Up
        } else {
            State::Unknown
        };
        self.state
    }

    fn state(&self) -> State {
        self.state
    }
}

/// Either judge, by value: what `HealthBook` stores per check.
#[derive(Debug, Clone)]
pub enum AnyJudge {
    /// Rise/fall, with an optional latency limit applied before the threshold sees a result.
    RiseFall {
        threshold: Threshold,
        max_latency: Option<Duration>,
    },
    /// k of n.
    Window(SlidingWindow),
}

impl AnyJudge {
    /// A rise/fall judge; `max_latency` makes slower successes count as failures.
    pub fn rise_fall(rise: u32, fall: u32, max_latency: Option<Duration>) -> Self {
        AnyJudge::RiseFall {
            threshold: Threshold::new(rise, fall),
            max_latency,
        }
    }

    /// A k-of-n judge; see [`SlidingWindow::new`] for the rules and errors.
    pub fn window(
        n: usize,
        k: usize,
        min_samples: usize,
        max_latency: Option<Duration>,
    ) -> Result<Self, WindowError> {
        Ok(AnyJudge::Window(
            SlidingWindow::new(n, k, min_samples)?.with_max_latency(max_latency),
        ))
    }
}

impl Judge for AnyJudge {
    fn observe(&mut self, ok: bool, latency: Duration) -> State {
        match self {
            AnyJudge::RiseFall {
                threshold,
                max_latency,
            } => threshold.observe(counts_as_ok(ok, latency, *max_latency)),
            AnyJudge::Window(w) => w.observe(ok, latency),
        }
    }

    fn state(&self) -> State {
        match self {
            AnyJudge::RiseFall { threshold, .. } => threshold.state(),
            AnyJudge::Window(w) => w.state(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(10);
    const SLOW: Duration = Duration::from_millis(900);

    fn feed(j: &mut impl Judge, results: &[bool]) -> Vec<State> {
        results.iter().map(|ok| j.observe(*ok, FAST)).collect()
    }

    #[test]
    fn rejects_configurations_that_cannot_judge() {
        assert_eq!(
            SlidingWindow::new(0, 1, 1).err(),
            Some(WindowError::EmptyWindow)
        );
        assert_eq!(
            SlidingWindow::new(5, 0, 1).err(),
            Some(WindowError::BadFailures { k: 0, n: 5 })
        );
        assert_eq!(
            SlidingWindow::new(5, 6, 1).err(),
            Some(WindowError::BadFailures { k: 6, n: 5 })
        );
        assert_eq!(
            SlidingWindow::new(5, 3, 0).err(),
            Some(WindowError::NoSamples)
        );
        assert!(
            SlidingWindow::new(5, 5, 9).is_ok(),
            "min_samples may exceed n"
        );
    }

    #[test]
    fn unknown_until_min_samples_then_up() -> Result<(), WindowError> {
        let mut w = SlidingWindow::new(5, 3, 3)?;
        assert_eq!(w.state(), State::Unknown);
        assert!(w.is_empty());
        assert_eq!(
            feed(&mut w, &[true, true, true]),
            [State::Unknown, State::Unknown, State::Up]
        );
        Ok(())
    }

    #[test]
    fn k_failures_take_it_down_even_before_min_samples() -> Result<(), WindowError> {
        let mut w = SlidingWindow::new(5, 2, 10)?;
        assert_eq!(feed(&mut w, &[false, false]), [State::Unknown, State::Down]);
        Ok(())
    }

    #[test]
    fn intermittent_failure_that_rise_fall_misses_is_caught() -> Result<(), WindowError> {
        // Fails every other probe: rise/fall (fall 3) never sees 3 in a row.
        let pattern = [true, false, true, false, true, false, true, false];
        let mut t = Threshold::new(1, 3);
        let mut w = SlidingWindow::new(6, 3, 1)?;
        let t_states = feed(&mut t, &pattern);
        let w_states = feed(&mut w, &pattern);
        assert!(t_states.iter().all(|s| *s == State::Up));
        assert_eq!(w_states.last(), Some(&State::Down));
        assert_eq!(w.failures(), 3);
        assert_eq!(w.len(), 6);
        Ok(())
    }

    #[test]
    fn recovery_needs_n_minus_k_plus_one_successes() -> Result<(), WindowError> {
        let (n, k) = (5, 3);
        let mut w = SlidingWindow::new(n, k, 1)?;
        feed(&mut w, &[true, true, true, true, true]);
        assert_eq!(
            feed(&mut w, &[false, false, false]).last(),
            Some(&State::Down)
        );
        let back = feed(&mut w, &[true; 3]);
        assert_eq!(back, [State::Down, State::Down, State::Up]);
        assert_eq!(back.len(), n - k + 1);
        Ok(())
    }

    #[test]
    fn old_failures_age_out_of_the_window() -> Result<(), WindowError> {
        let mut w = SlidingWindow::new(4, 2, 1)?;
        // F S S S F: the first F has left the window when the second arrives.
        let s = feed(&mut w, &[false, true, true, true, false]);
        assert_eq!(s.last(), Some(&State::Up));
        assert_eq!(w.failures(), 1);
        assert_eq!(w.observe(false, FAST), State::Down);
        Ok(())
    }

    #[test]
    fn slow_success_counts_as_failure_only_when_configured() -> Result<(), WindowError> {
        let mut plain = SlidingWindow::new(3, 2, 1)?;
        let mut limited = SlidingWindow::new(3, 2, 1)?.with_max_latency(Some(SLOW / 2));
        for _ in 0..3 {
            plain.observe(true, SLOW);
            limited.observe(true, SLOW);
        }
        assert_eq!(plain.state(), State::Up);
        assert_eq!(limited.state(), State::Down);
        assert!(counts_as_ok(true, SLOW, Some(SLOW)), "at the limit passes");
        assert!(
            !counts_as_ok(false, FAST, Some(SLOW)),
            "a failure never passes"
        );
        Ok(())
    }

    #[test]
    fn threshold_via_trait_matches_its_own_rules() {
        let mut t = Threshold::new(2, 2);
        let j: &mut dyn Judge = &mut t;
        assert_eq!(j.observe(true, SLOW), State::Unknown);
        assert_eq!(
            j.observe(true, SLOW),
            State::Up,
            "plain rise/fall ignores latency"
        );
        assert_eq!(j.observe(false, FAST), State::Up);
        assert_eq!(j.observe(false, FAST), State::Down);
        assert_eq!(j.state(), State::Down);
    }

    #[test]
    fn any_judge_applies_latency_to_rise_fall_too() -> Result<(), WindowError> {
        let mut rf = AnyJudge::rise_fall(1, 2, Some(Duration::from_millis(100)));
        assert_eq!(rf.observe(true, FAST), State::Up);
        assert_eq!(rf.observe(true, SLOW), State::Up);
        assert_eq!(rf.observe(true, SLOW), State::Down);
        assert_eq!(rf.state(), State::Down);

        let mut win = AnyJudge::window(3, 2, 2, None)?;
        assert_eq!(win.observe(true, SLOW), State::Unknown);
        assert_eq!(win.observe(true, SLOW), State::Up);
        assert_eq!(win.observe(false, FAST), State::Up);
        assert_eq!(win.observe(false, FAST), State::Down);
        assert_eq!(win.state(), State::Down);
        assert!(AnyJudge::window(3, 4, 1, None).is_err());
        Ok(())
    }
}
