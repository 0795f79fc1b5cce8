//! Partition awareness: when everything fails at once, suspect our own network first.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. If the
//! controller's uplink breaks, every target of every service looks down from here at the same
//! moment, and failing all of them over would be exactly wrong. [`PartitionDetector`] watches
//! the controller's *own-vantage* view of all targets across all services and reports
//! [`PartitionStatus::Suspected`] when the pattern looks like a local partition rather than
//! backend failures. While suspected, the controller must not move traffic on its own evidence
//! alone (remote vantage points can still confirm; see `vantage`).
//!
//! Rules (fraction `f` = [`PartitionConfig::min_fraction`], `s` = `min_services`):
//! * **Onset**: a *burst* exists: targets that are Down now and whose transitions to Down all
//!   lie within [`PartitionConfig::window`] of each other number at least `f` of all targets
//!   and belong to at least `s` different services. One service failing alone, however badly,
//!   is never a partition.
//! * **Clear**: the evidence, i.e. the fraction of *all* currently-Down targets being `>= f`
//!   across `>= s` services, has been missing continuously for [`PartitionConfig::hold`].
//!
//! `service` is the unit of independence: pass the same key for services that share a failure
//! domain (same data centre, same load balancer), because their joint failure is explained by
//! that domain and says nothing about our own network.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::threshold::State;

/// Tuning of the detector. The defaults suit a controller probing every few seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionConfig {
    /// How close together the transitions to Down must be to count as one burst (10 s).
    pub window: Duration,
    /// Fraction of all targets the burst must reach, in (0, 1] (0.5).
    pub min_fraction: f64,
    /// Distinct services the burst must span (2): one service is never a partition.
    pub min_services: usize,
    /// How long the evidence must stay gone before the suspicion clears (30 s), so that a
    /// partition that heals target by target does not release traffic moves midway.
    pub hold: Duration,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            window: Duration::from_secs(10),
            min_fraction: 0.5,
            min_services: 2,
            hold: Duration::from_secs(30),
        }
    }
}

/// Why a [`PartitionConfig`] is rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PartitionConfigError {
    /// The fraction must be a number in (0, 1]; 0 would suspect a partition all the time.
    #[error("partition min_fraction must be in (0, 1], got {0}")]
    Fraction(f64),
    /// At least 2 services: with 1, a single service's outage would freeze failover.
    #[error("partition min_services must be at least 2, got {0}")]
    Services(usize),
}

impl PartitionConfig {
    /// Checks the values; see [`PartitionConfigError`].
    pub fn validate(&self) -> Result<(), PartitionConfigError> {
        if !(self.min_fraction > 0.0 && self.min_fraction <= 1.0) {
            return Err(PartitionConfigError::Fraction(self.min_fraction));
        }
        if self.min_services < 2 {
            return Err(PartitionConfigError::Services(self.min_services));
        }
        Ok(())
    }
}

/// The local (controller) view of one target, as fed to the detector each evaluation.
#[derive(Debug, Clone, Copy)]
pub struct TargetView<'a> {
    /// The service, or shared failure domain, the target belongs to.
    pub service: &'a str,
    pub target: &'a str,
    /// The controller's own judgement of the target.
    pub state: State,
    /// When `state` was entered.
    pub changed_at: Instant,
}

/// What the detector concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionStatus {
    /// Local evidence can be trusted.
    Clear,
    /// The controller may be cut off: do not move traffic on its own evidence alone.
    Suspected {
        /// When the triggering burst began (its earliest transition to Down).
        since: Instant,
        /// Fraction of all targets currently Down from here.
        down_fraction: f64,
        /// Services with a currently Down target, sorted.
        services: Vec<String>,
    },
}

impl PartitionStatus {
    /// True while a partition is suspected.
    pub fn is_suspected(&self) -> bool {
        matches!(self, PartitionStatus::Suspected { .. })
    }

    /// What policy may act on: while suspected, local Down becomes Unknown (hold, never move
    /// traffic); Up and Unknown pass unchanged. When clear, everything passes.
    pub fn gate(&self, local: State) -> State {
        match (self, local) {
            (PartitionStatus::Suspected { .. }, State::Down) => State::Unknown,
            (_, s) => s,
        }
    }
}

/// Watches the controller's own view of every target for the signature of a local partition.
#[derive(Debug, Clone)]
pub struct PartitionDetector {
    config: PartitionConfig,
    status: PartitionStatus,
    /// While suspected: since when the evidence has been missing.
    missing_since: Option<Instant>,
}

impl PartitionDetector {
    /// A detector starting [`PartitionStatus::Clear`].
    pub fn new(config: PartitionConfig) -> Result<Self, PartitionConfigError> {
        config.validate()?;
        Ok(PartitionDetector {
            config,
            status: PartitionStatus::Clear,
            missing_since: None,
        })
    }

    /// The last status, without evaluating.
    pub fn status(&self) -> &PartitionStatus {
        &self.status
    }

    /// Evaluates the full local view (every target of every service) at `now`. Call once per
    /// evaluation with all targets; a partial view skews the fractions.
    pub fn evaluate(&mut self, view: &[TargetView<'_>], now: Instant) -> PartitionStatus {
        let total = view.len();
        let down: Vec<&TargetView<'_>> = view.iter().filter(|t| t.state == State::Down).collect();
        let services: BTreeSet<&str> = down.iter().map(|t| t.service).collect();
        let down_fraction = fraction(down.len(), total);
        let evidence = total > 0
            && down_fraction >= self.config.min_fraction
            && services.len() >= self.config.min_services;
        let services: Vec<String> = services.into_iter().map(str::to_owned).collect();

        match &mut self.status {
            PartitionStatus::Clear => {
                if let Some(since) = self.burst(&down, total) {
                    self.missing_since = None;
                    self.status = PartitionStatus::Suspected {
                        since,
                        down_fraction,
                        services,
                    };
                }
            }
            PartitionStatus::Suspected {
                down_fraction: f,
                services: s,
                ..
            } => {
                *f = down_fraction;
                *s = services;
                if evidence {
                    self.missing_since = None;
                } else {
                    let missing = *self.missing_since.get_or_insert(now);
                    if now.saturating_duration_since(missing) >= self.config.hold {
                        self.missing_since = None;
                        self.status = PartitionStatus::Clear;
                    }
                }
            }
        }
        self.status.clone()
    }

    /// The start of the earliest qualifying burst among `down`, if any: a run of transitions
    /// within `window` of each other, reaching the fraction and the service count.
    fn burst(&self, down: &[&TargetView<'_>], total: usize) -> Option<Instant> {
        let mut sorted: Vec<&TargetView<'_>> = down.to_vec();
        sorted.sort_by_key(|t| t.changed_at);
        for (i, first) in sorted.iter().enumerate() {
            let run = sorted[i..].iter().take_while(|t| {
                t.changed_at.saturating_duration_since(first.changed_at) <= self.config.window
            });
            let mut count = 0;
            let mut services = BTreeSet::new();
            for t in run {
                count += 1;
                services.insert(t.service);
            }
            if fraction(count, total) >= self.config.min_fraction
                && services.len() >= self.config.min_services
            {
                return Some(first.changed_at);
            }
        }
        None
    }
}

fn fraction(part: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: [&str; 3] = ["web", "api", "mail"];
    const TARGETS: [&str; 3] = ["primary", "backup", "dr"];

    /// A 3x3 estate, all Up since `t`.
    fn estate(t: Instant) -> Vec<TargetView<'static>> {
        SERVICES
            .iter()
            .flat_map(|s| {
                TARGETS.iter().map(move |tg| TargetView {
                    service: s,
                    target: tg,
                    state: State::Up,
                    changed_at: t,
                })
            })
            .collect()
    }

    fn set(view: &mut [TargetView<'_>], service: &str, target: &str, state: State, at: Instant) {
        for t in view.iter_mut() {
            if t.service == service && t.target == target {
                t.state = state;
                t.changed_at = at;
            }
        }
    }

    fn detector() -> Result<PartitionDetector, PartitionConfigError> {
        PartitionDetector::new(PartitionConfig::default())
    }

    #[tokio::test(start_paused = true)]
    async fn uplink_break_is_suspected() -> Result<(), PartitionConfigError> {
        let t0 = Instant::now();
        let mut d = detector()?;
        let mut view = estate(t0);
        assert_eq!(d.evaluate(&view, t0), PartitionStatus::Clear);

        // Most targets of all 3 services fail within 3 s of each other.
        let t1 = t0 + Duration::from_secs(100);
        let failing = [
            ("web", "primary"),
            ("web", "backup"),
            ("api", "primary"),
            ("api", "backup"),
            ("mail", "primary"),
            ("mail", "backup"),
        ];
        for (i, (s, tg)) in failing.iter().enumerate() {
            set(
                &mut view,
                s,
                tg,
                State::Down,
                t1 + Duration::from_millis(500 * i as u64),
            );
        }
        let now = t1 + Duration::from_secs(3);
        let st = d.evaluate(&view, now);
        let PartitionStatus::Suspected {
            since,
            down_fraction,
            services,
        } = st
        else {
            panic!("expected suspicion, got {st:?}");
        };
        assert_eq!(since, t1);
        assert!((down_fraction - 6.0 / 9.0).abs() < 1e-9);
        assert_eq!(services, ["api", "mail", "web"]);
        assert!(d.status().is_suspected());
        assert_eq!(d.status().gate(State::Down), State::Unknown);
        assert_eq!(d.status().gate(State::Up), State::Up);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn one_service_failing_is_not_a_partition() -> Result<(), PartitionConfigError> {
        let t0 = Instant::now();
        let mut d = detector()?;
        let mut view = estate(t0);
        let t1 = t0 + Duration::from_secs(60);
        for tg in TARGETS {
            set(&mut view, "web", tg, State::Down, t1);
        }
        let st = d.evaluate(&view, t1);
        assert_eq!(st, PartitionStatus::Clear);
        assert_eq!(st.gate(State::Down), State::Down);

        // Just the primary of one service.
        let mut d = detector()?;
        let mut view = estate(t0);
        set(&mut view, "api", "primary", State::Down, t1);
        assert_eq!(d.evaluate(&view, t1), PartitionStatus::Clear);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn failures_spread_over_time_are_not_a_burst() -> Result<(), PartitionConfigError> {
        let t0 = Instant::now();
        let mut d = detector()?;
        let mut view = estate(t0);
        // 6 of 9 down across 3 services, but a minute apart: independent failures.
        let mut at = t0;
        for (s, tg) in [
            ("web", "primary"),
            ("web", "backup"),
            ("api", "primary"),
            ("api", "backup"),
            ("mail", "primary"),
            ("mail", "backup"),
        ] {
            at += Duration::from_secs(60);
            set(&mut view, s, tg, State::Down, at);
            assert_eq!(d.evaluate(&view, at), PartitionStatus::Clear);
        }
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn recovery_clears_after_the_hold() -> Result<(), PartitionConfigError> {
        let t0 = Instant::now();
        let config = PartitionConfig::default();
        let hold = config.hold;
        let mut d = PartitionDetector::new(config)?;
        let mut view = estate(t0);
        let t1 = t0 + Duration::from_secs(10);
        for s in SERVICES {
            for tg in TARGETS {
                set(&mut view, s, tg, State::Down, t1);
            }
        }
        assert!(d.evaluate(&view, t1).is_suspected());

        // Uplink back: everything recovers over a few seconds.
        let t2 = t1 + Duration::from_secs(120);
        for (i, s) in SERVICES.iter().enumerate() {
            for tg in TARGETS {
                set(
                    &mut view,
                    s,
                    tg,
                    State::Up,
                    t2 + Duration::from_secs(i as u64),
                );
            }
        }
        let st = d.evaluate(&view, t2);
        assert!(st.is_suspected(), "held, not cleared at once");
        if let PartitionStatus::Suspected { down_fraction, .. } = st {
            assert_eq!(down_fraction, 0.0);
        }
        assert!(d
            .evaluate(&view, t2 + hold - Duration::from_millis(1))
            .is_suspected());
        assert_eq!(d.evaluate(&view, t2 + hold), PartitionStatus::Clear);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn relapse_during_hold_restarts_it() -> Result<(), PartitionConfigError> {
        let t0 = Instant::now();
        let mut d = detector()?;
        let mut view = estate(t0);
        for s in SERVICES {
            for tg in TARGETS {
                set(&mut view, s, tg, State::Down, t0);
            }
        }
        assert!(d.evaluate(&view, t0).is_suspected());
        let up = estate(t0 + Duration::from_secs(5));
        assert!(d.evaluate(&up, t0 + Duration::from_secs(5)).is_suspected());
        // Down again 20 s into the hold, then up: the hold starts over.
        assert!(d
            .evaluate(&view, t0 + Duration::from_secs(25))
            .is_suspected());
        assert!(d.evaluate(&up, t0 + Duration::from_secs(30)).is_suspected());
        assert!(d.evaluate(&up, t0 + Duration::from_secs(59)).is_suspected());
        assert!(!d.evaluate(&up, t0 + Duration::from_secs(60)).is_suspected());
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn empty_view_is_clear_and_config_is_checked() -> Result<(), PartitionConfigError> {
        let mut d = detector()?;
        assert_eq!(d.evaluate(&[], Instant::now()), PartitionStatus::Clear);
        let bad = |f: f64, s: usize| {
            PartitionDetector::new(PartitionConfig {
                min_fraction: f,
                min_services: s,
                ..PartitionConfig::default()
            })
            .err()
        };
        assert_eq!(bad(0.0, 2), Some(PartitionConfigError::Fraction(0.0)));
        assert_eq!(bad(1.5, 2), Some(PartitionConfigError::Fraction(1.5)));
        assert!(matches!(
            bad(f64::NAN, 2),
            Some(PartitionConfigError::Fraction(_))
        ));
        assert_eq!(bad(0.5, 1), Some(PartitionConfigError::Services(1)));
        assert_eq!(bad(1.0, 2), None);
        Ok(())
    }
}
