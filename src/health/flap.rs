//! Flap damping: a target that keeps changing state is not trusted with traffic.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. It sits
//! after a target's state has been judged (thresholds, windows, quorum) and before policy sees
//! it. Without damping, a backend that is up for 2 s and down for 2 s would drag DNS back and
//! forth (bounded only by policy's `min_change_interval`), and every change is a cache flush
//! for users.
//!
//! Modelled on BGP route-flap damping (RFC 2439): each change between Up and Down adds
//! [`FlapConfig::penalty`]; the penalty decays exponentially with [`FlapConfig::half_life`] and
//! is capped at [`FlapConfig::max_penalty`] (which bounds how long a target stays suppressed
//! after it stops flapping). When the penalty reaches `suppress`, the target is *flapping*;
//! once it decays below `reuse`, it is released.
//!
//! Asymmetric on purpose, "fail fast, recover slow":
//! * A change **to Down always passes at once**, flapping or not: damping never delays the
//!   first failure of a stable target, and never hides a failure.
//! * A change **to Up passes only while not flapping**. While flapping, the target is held in
//!   its last damped state, which is then Down (or Unknown), never Up: a flapping primary is
//!   not failed back to, a flapping backup is not failed over to.
//!
//! Transitions through Unknown do not add penalty: Up -> Unknown -> Up is not a flap, and
//! Down -> Unknown -> Up counts as one change.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::threshold::State;

/// Damping parameters. With the defaults, two changes within about one half-life (30 s)
/// suppress the target; a single failure and a recovery more than a half-life apart do not.
/// After flapping stops, the target is released within
/// `half_life * log2(max_penalty / reuse)`, about 72 s with the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct FlapConfig {
    /// Added on every change between Up and Down (1000).
    pub penalty: f64,
    /// Time for the penalty to halve (30 s).
    pub half_life: Duration,
    /// At or above this, the target is flapping (1500).
    pub suppress: f64,
    /// Below this, a flapping target is released (750).
    pub reuse: f64,
    /// Ceiling of the penalty (4000), bounding the time held after flapping stops.
    pub max_penalty: f64,
}

impl Default for FlapConfig {
    fn default() -> Self {
        FlapConfig {
            penalty: 1000.0,
            half_life: Duration::from_secs(30),
            suppress: 1500.0,
            reuse: 750.0,
            max_penalty: 4000.0,
        }
    }
}

/// Why a [`FlapConfig`] is rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlapConfigError {
    /// The half-life must be positive, or the penalty would never decay.
    #[error("flap half_life must be positive")]
    HalfLife,
    /// Values must satisfy `0 < reuse < suppress <= max_penalty` and
    /// `0 < penalty < suppress` (one change alone must never suppress), all finite.
    #[error(
        "flap damping needs 0 < reuse < suppress <= max_penalty and 0 < penalty < suppress \
         (got penalty {penalty}, reuse {reuse}, suppress {suppress}, max_penalty {max_penalty})"
    )]
    Limits {
        penalty: f64,
        reuse: f64,
        suppress: f64,
        max_penalty: f64,
    },
}

impl FlapConfig {
    /// Checks the values; see [`FlapConfigError`].
    pub fn validate(&self) -> Result<(), FlapConfigError> {
        if self.half_life.is_zero() {
            return Err(FlapConfigError::HalfLife);
        }
        let finite = [self.penalty, self.reuse, self.suppress, self.max_penalty]
            .iter()
            .all(|v| v.is_finite());
        let ordered = self.reuse > 0.0
            && self.reuse < self.suppress
            && self.suppress <= self.max_penalty
            && self.penalty > 0.0
            && self.penalty < self.suppress;
        if !(finite && ordered) {
            return Err(FlapConfigError::Limits {
                penalty: self.penalty,
                reuse: self.reuse,
                suppress: self.suppress,
                max_penalty: self.max_penalty,
            });
        }
        Ok(())
    }
}

/// A target's state after damping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DampedState {
    /// What policy should act on.
    pub state: State,
    /// True while the target is suppressed for flapping; show it to operators, since the
    /// state shown may differ from what the probes see right now.
    pub flapping: bool,
}

/// Route-flap-damping style penalty counter for one target.
#[derive(Debug, Clone)]
pub struct FlapDamper {
    config: FlapConfig,
    penalty: f64,
    updated: Option<Instant>,
    /// The last Up/Down seen on input (Unknown is skipped).
    last_known: Option<State>,
    damped: State,
    suppressed: bool,
}

impl FlapDamper {
    /// A damper with no penalty, starting Unknown.
    pub fn new(config: FlapConfig) -> Result<Self, FlapConfigError> {
        config.validate()?;
        Ok(FlapDamper {
            config,
            penalty: 0.0,
            updated: None,
            last_known: None,
            damped: State::Unknown,
            suppressed: false,
        })
    }

    /// Feeds the target's judged state at `now` and returns the damped state. Call it on every
    /// evaluation, not only on changes, so that a suppressed target is released on time.
    pub fn observe(&mut self, state: State, now: Instant) -> DampedState {
        self.decay(now);
        if state != State::Unknown {
            if self.last_known.is_some_and(|prev| prev != state) {
                self.penalty = (self.penalty + self.config.penalty).min(self.config.max_penalty);
            }
            self.last_known = Some(state);
        }
        if self.suppressed && self.penalty < self.config.reuse {
            self.suppressed = false;
        }
        if !self.suppressed && self.penalty >= self.config.suppress {
            self.suppressed = true;
        }
        self.damped = match state {
            State::Down => State::Down,
            _ if self.suppressed => self.damped,
            s => s,
        };
        self.current()
    }

    /// The damped state from the last [`observe`](Self::observe).
    pub fn current(&self) -> DampedState {
        DampedState {
            state: self.damped,
            flapping: self.suppressed,
        }
    }

    /// The penalty decayed to `now`, for status output (does not change the damper).
    pub fn penalty(&self, now: Instant) -> f64 {
        self.penalty * self.decay_factor(now)
    }

    fn decay_factor(&self, now: Instant) -> f64 {
        match self.updated {
            None => 1.0,
            Some(at) => {
                let dt = now.saturating_duration_since(at).as_secs_f64();
                0.5f64.powf(dt / self.config.half_life.as_secs_f64())
            }
        }
    }

    fn decay(&mut self, now: Instant) {
        self.penalty *= self.decay_factor(now);
        // Never move the reference back: a late timestamp decays nothing.
        if self.updated.is_none_or(|at| at < now) {
            self.updated = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damper() -> Result<FlapDamper, FlapConfigError> {
        FlapDamper::new(FlapConfig::default())
    }

    /// Feeds `state` every second for `secs` seconds from `*t`; returns the damped states.
    fn hold(d: &mut FlapDamper, state: State, t: &mut Instant, secs: u64) -> Vec<DampedState> {
        (0..secs)
            .map(|_| {
                let out = d.observe(state, *t);
                *t += Duration::from_secs(1);
                out
            })
            .collect()
    }

    fn changes(states: &[DampedState]) -> usize {
        states
            .windows(2)
            .filter(|w| w[0].state != w[1].state)
            .count()
    }

    fn flap(d: &mut FlapDamper, t: &mut Instant, first: State, secs: u64) -> Vec<DampedState> {
        let second = if first == State::Up {
            State::Down
        } else {
            State::Up
        };
        let mut out = Vec::new();
        for i in 0..secs / 2 {
            let s = if i % 2 == 0 { first } else { second };
            out.extend(hold(d, s, t, 2));
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn flapping_from_stable_up_changes_at_most_twice() -> Result<(), FlapConfigError> {
        let mut d = damper()?;
        let mut t = Instant::now();
        let mut seen = hold(&mut d, State::Up, &mut t, 300);
        let during = flap(&mut d, &mut t, State::Down, 60);
        assert!(during.iter().skip(2).all(|s| s.flapping));
        assert!(
            during.iter().all(|s| s.state != State::Up),
            "never up while flapping"
        );
        seen.extend(during);
        assert!(changes(&seen) <= 2, "{} changes", changes(&seen));
        assert_eq!(d.current().state, State::Down);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn flapping_from_stable_down_changes_at_most_twice() -> Result<(), FlapConfigError> {
        let mut d = damper()?;
        let mut t = Instant::now();
        let mut seen = hold(&mut d, State::Down, &mut t, 300);
        seen.extend(flap(&mut d, &mut t, State::Up, 60));
        assert!(changes(&seen) <= 2, "{} changes", changes(&seen));
        assert_eq!(
            d.current(),
            DampedState {
                state: State::Down,
                flapping: true
            }
        );
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn first_failure_of_a_stable_target_passes_at_once() -> Result<(), FlapConfigError> {
        let mut d = damper()?;
        let mut t = Instant::now();
        hold(&mut d, State::Up, &mut t, 120);
        let out = d.observe(State::Down, t);
        assert_eq!(
            out,
            DampedState {
                state: State::Down,
                flapping: false
            }
        );
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn failure_while_flapping_is_never_hidden() -> Result<(), FlapConfigError> {
        let mut d = damper()?;
        let mut t = Instant::now();
        hold(&mut d, State::Up, &mut t, 10);
        flap(&mut d, &mut t, State::Down, 20);
        for s in hold(&mut d, State::Down, &mut t, 5) {
            assert_eq!(s.state, State::Down);
        }
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn released_in_bounded_time_after_flapping_stops() -> Result<(), FlapConfigError> {
        let config = FlapConfig::default();
        let bound = config.half_life.as_secs_f64() * (config.max_penalty / config.reuse).log2();
        let mut d = FlapDamper::new(config)?;
        let mut t = Instant::now();
        hold(&mut d, State::Up, &mut t, 10);
        flap(&mut d, &mut t, State::Down, 600);
        assert!(d.current().flapping);
        let stable_from = t;
        let after = hold(&mut d, State::Up, &mut t, 200);
        let Some(released) = after.iter().position(|s| !s.flapping) else {
            panic!("still flapping 200 s after it stopped");
        };
        assert!(
            (released as f64) <= bound.ceil() + 2.0,
            "released after {released}s"
        );
        assert_eq!(after[released].state, State::Up);
        assert!(d.penalty(t) < 750.0);
        assert!(t > stable_from);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_clean_outage_and_recovery_are_not_damped() -> Result<(), FlapConfigError> {
        let mut d = damper()?;
        let mut t = Instant::now();
        hold(&mut d, State::Up, &mut t, 60);
        hold(&mut d, State::Down, &mut t, 120);
        let out = d.observe(State::Up, t);
        assert_eq!(
            out,
            DampedState {
                state: State::Up,
                flapping: false
            }
        );
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_passes_and_adds_no_penalty() -> Result<(), FlapConfigError> {
        let mut d = damper()?;
        let t = Instant::now();
        assert_eq!(d.observe(State::Unknown, t).state, State::Unknown);
        assert_eq!(d.observe(State::Up, t).state, State::Up);
        assert_eq!(d.observe(State::Unknown, t).state, State::Unknown);
        assert_eq!(d.observe(State::Up, t).state, State::Up);
        assert_eq!(d.penalty(t), 0.0);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn penalty_halves_per_half_life_and_time_never_runs_back() -> Result<(), FlapConfigError>
    {
        let mut d = damper()?;
        let t = Instant::now();
        d.observe(State::Up, t);
        d.observe(State::Down, t);
        assert_eq!(d.penalty(t), 1000.0);
        assert!((d.penalty(t + Duration::from_secs(30)) - 500.0).abs() < 1e-6);
        d.observe(State::Down, t + Duration::from_secs(30));
        d.observe(State::Down, t); // late timestamp: no decay, no rewind
        assert!((d.penalty(t + Duration::from_secs(30)) - 500.0).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn rejects_unusable_configurations() {
        let with = |f: fn(&mut FlapConfig)| {
            let mut c = FlapConfig::default();
            f(&mut c);
            FlapDamper::new(c).err()
        };
        assert_eq!(
            with(|c| c.half_life = Duration::ZERO),
            Some(FlapConfigError::HalfLife)
        );
        assert!(with(|c| c.reuse = 2000.0).is_some(), "reuse above suppress");
        assert!(
            with(|c| c.max_penalty = 1000.0).is_some(),
            "suppress above max"
        );
        assert!(
            with(|c| c.penalty = 1500.0).is_some(),
            "one change suppresses"
        );
        assert!(with(|c| c.reuse = f64::NAN).is_some());
        assert!(with(|c| c.penalty = -1.0).is_some());
        assert!(with(|_| {}).is_none());
    }
}
