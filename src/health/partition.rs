//! Self-suspicion: before moving traffic, ask whether the controller itself is cut off.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. If the
//! controller's own uplink breaks, every target looks down from here, and failing services over
//! would be exactly wrong. But a whole site going dark also makes many targets fail at once, and
//! there moving traffic is the whole point. The detector therefore suspects the controller's
//! network only on evidence *about the controller*:
//!
//! * **Uplink anchors** (`[controller] uplink_checks`: the provider's API, the zone's name
//!   servers, other sites), when configured and probed: all anchors down = suspected; any
//!   anchor up = the controller can see the world, local evidence is trusted.
//! * Without anchors (or before they are probed): suspected only when many targets of several
//!   services are down **and not a single target answers**. A backup that answers the
//!   controller's probes is proof that the controller can see the world: move.
//! * With vantage points (agents), the vantage quorum adds the others' view on top.
//!
//! There is one verdict per evaluation for all services, so a site outage moves all of its
//! services or none, never half; it is re-evaluated on every tick and clears as soon as its
//! evidence is gone. Without anchors the verdict needs a moment at the onset: while targets of
//! several services are still going down (the last one less than [`PartitionConfig::settle`]
//! ago), nothing moves on local evidence (**settling**). A cut-off controller sees its targets
//! fall one after another over a second or two; deciding on the first ones would fail them
//! over to backups that are about to look down too. Once the falling stops, the evidence is
//! complete and the verdict applies to all of them at once. A single service failing alone
//! never settles.

use std::time::Duration;

use tokio::time::Instant;

use super::threshold::State;

/// When the "nothing answers" rule applies. The defaults suit most fleets.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionConfig {
    /// Fraction of all targets that must be down, in (0, 1] (0.5).
    pub min_fraction: f64,
    /// Distinct services with a down target (2): one service is never a partition.
    pub min_services: usize,
    /// Targets of at least `min_services` services that went down within this long of each
    /// other (10 s) are one onset...
    pub window: Duration,
    /// ...and local evidence waits until the last of them is this old (3 s), when no uplink
    /// anchor decides.
    pub settle: Duration,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            min_fraction: 0.5,
            min_services: 2,
            window: Duration::from_secs(10),
            settle: Duration::from_secs(3),
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
    /// The service the target belongs to.
    pub service: &'a str,
    /// The controller's own judgement of the target.
    pub state: State,
    /// When `state` was entered.
    pub changed_at: Instant,
}

/// Why the controller suspects itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Suspicion {
    /// Every uplink anchor is down from here.
    UplinkDown { anchors: usize },
    /// Many targets of several services are down and none answers.
    NothingAnswers { down_fraction: f64, services: usize },
}

/// What the detector concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionStatus {
    /// Local evidence can be trusted.
    Clear,
    /// The controller may be cut off: do not move traffic on its own evidence alone.
    Suspected { since: Instant, why: Suspicion },
    /// Targets of several services are going down right now; the verdict waits until they
    /// stop (the last one `settle` old), holding like a suspicion meanwhile.
    Settling {
        until: Instant,
        services: usize,
        targets: usize,
    },
}

impl PartitionStatus {
    /// True while a partition is suspected.
    pub fn is_suspected(&self) -> bool {
        matches!(self, PartitionStatus::Suspected { .. })
    }

    /// True while local Down must not move traffic (suspected or settling).
    pub fn holds(&self) -> bool {
        !matches!(self, PartitionStatus::Clear)
    }

    /// What policy may act on: while suspected or settling, local Down becomes Unknown (hold,
    /// never move traffic); Up and Unknown pass unchanged. When clear, everything passes.
    pub fn gate(&self, local: State) -> State {
        match (self.holds(), local) {
            (true, State::Down) => State::Unknown,
            (_, s) => s,
        }
    }

    /// One sentence for the log, the audit trail and `status`.
    pub fn describe(&self) -> String {
        match self {
            PartitionStatus::Clear => "local evidence is trusted".into(),
            PartitionStatus::Settling {
                services, targets, ..
            } => format!(
                "{targets} targets of {services} services went down within seconds of each \
                 other: waiting until they stop falling to tell a site outage (backups answer: \
                 move them all) from the controller being cut off (nothing answers: hold)"
            ),
            PartitionStatus::Suspected {
                why: Suspicion::UplinkDown { anchors },
                ..
            } => format!(
                "all {anchors} uplink anchor(s) are down from here: the controller's own network \
                 is suspected; no traffic moves on local evidence until an anchor answers"
            ),
            PartitionStatus::Suspected {
                why:
                    Suspicion::NothingAnswers {
                        down_fraction,
                        services,
                    },
                ..
            } => format!(
                "{:.0} % of all targets ({services} services) are down from here and not one \
                 target answers: the controller's own network is suspected; no traffic moves on \
                 local evidence until something answers (configure [controller] uplink_checks \
                 to decide this from reference checks instead)",
                down_fraction * 100.0
            ),
        }
    }
}

/// Watches the controller's own view for evidence that the controller is cut off.
#[derive(Debug, Clone)]
pub struct PartitionDetector {
    config: PartitionConfig,
    status: PartitionStatus,
}

impl PartitionDetector {
    /// A detector starting [`PartitionStatus::Clear`].
    pub fn new(config: PartitionConfig) -> Result<Self, PartitionConfigError> {
        config.validate()?;
        Ok(PartitionDetector {
            config,
            status: PartitionStatus::Clear,
        })
    }

    /// The last status, without evaluating.
    pub fn status(&self) -> &PartitionStatus {
        &self.status
    }

    /// Evaluates the full local view (every target of every service) and the uplink anchors'
    /// verdict (`None` when none are configured; `anchors` = how many) at `now`.
    pub fn evaluate(
        &mut self,
        view: &[TargetView<'_>],
        uplink: Option<(State, usize)>,
        now: Instant,
    ) -> PartitionStatus {
        let why = match uplink {
            Some((State::Down, anchors)) => Some(Suspicion::UplinkDown { anchors }),
            Some((State::Up, _)) => None,
            _ => {
                if let Some(settling) = self.settling(view, now) {
                    self.status = settling;
                    return self.status.clone();
                }
                self.nothing_answers(view)
            }
        };
        self.status = match (why, &self.status) {
            (None, _) => PartitionStatus::Clear,
            (Some(why), PartitionStatus::Suspected { since, .. }) => {
                PartitionStatus::Suspected { since: *since, why }
            }
            (Some(why), PartitionStatus::Clear | PartitionStatus::Settling { .. }) => {
                PartitionStatus::Suspected { since: now, why }
            }
        };
        self.status.clone()
    }

    /// Settling while targets of `min_services` services went down within `window` and the
    /// newest fall is younger than `settle`.
    fn settling(&self, view: &[TargetView<'_>], now: Instant) -> Option<PartitionStatus> {
        let recent: Vec<&TargetView<'_>> = view
            .iter()
            .filter(|t| {
                t.state == State::Down
                    && now.saturating_duration_since(t.changed_at) <= self.config.window
            })
            .collect();
        let newest = recent.iter().map(|t| t.changed_at).max()?;
        let mut services: Vec<&str> = recent.iter().map(|t| t.service).collect();
        services.sort_unstable();
        services.dedup();
        let until = newest + self.config.settle;
        (services.len() >= self.config.min_services && now < until).then_some(
            PartitionStatus::Settling {
                until,
                services: services.len(),
                targets: recent.len(),
            },
        )
    }

    fn nothing_answers(&self, view: &[TargetView<'_>]) -> Option<Suspicion> {
        if view.iter().any(|t| t.state == State::Up) {
            return None;
        }
        let down: Vec<&TargetView<'_>> = view.iter().filter(|t| t.state == State::Down).collect();
        let mut services: Vec<&str> = down.iter().map(|t| t.service).collect();
        services.dedup(); // views come grouped by service
        services.sort_unstable();
        services.dedup();
        let down_fraction = if view.is_empty() {
            0.0
        } else {
            down.len() as f64 / view.len() as f64
        };
        (down_fraction >= self.config.min_fraction && services.len() >= self.config.min_services)
            .then_some(Suspicion::NothingAnswers {
                down_fraction,
                services: services.len(),
            })
    }
}

#[cfg(test)]
mod tests;
