//! A target's memory across evaluations (health stage: probe -> **health** -> policy): its
//! local state and since when, the vantage quorum over the controller and the agents, flap
//! damping, and its last evaluation, which the loop and status read.

use tokio::time::Instant;

use super::flap::{FlapConfig, FlapDamper};
use super::vantage::{VantageQuorum, VantageVerdict};
use super::{State, CONTROLLER_VANTAGE};
use crate::probe::CheckId;

/// One target of a service: its checks, how many must fail, and its memory across
/// evaluations. Kept in the service's list in configuration order (no map keyed by two
/// names: 20,000 targets at 10,000 services).
pub(super) struct TargetEntry {
    pub(super) name: String,
    pub(super) ids: Vec<CheckId>,
    /// How many failing checks take the target down.
    pub(super) quorum: usize,
    pub(super) track: TargetTrack,
}

/// Per-target memory across evaluations.
pub(super) struct TargetTrack {
    pub(super) local: State,
    pub(super) changed_at: Instant,
    pub(super) quorum: VantageQuorum,
    pub(super) damper: Option<FlapDamper>,
    /// The last evaluation.
    pub(super) last: Option<Evaluated>,
    /// (state, flapping, local) at the last evaluation, to notice a change.
    pub(super) seen: Option<(State, bool, State)>,
}

impl TargetTrack {
    /// A fresh track: unknown, with a quorum over the controller and `agents`.
    pub(super) fn new(
        required: usize,
        agents: &[std::sync::Arc<str>],
        stale_after: std::time::Duration,
    ) -> Self {
        let mut quorum = VantageQuorum::new(required, stale_after);
        quorum.expect(CONTROLLER_VANTAGE);
        for a in agents {
            quorum.expect(a.clone());
        }
        TargetTrack {
            local: State::Unknown,
            changed_at: Instant::now(),
            quorum,
            damper: FlapDamper::new(flap_config()).ok(),
            last: None,
            seen: None,
        }
    }

    /// The controller's (partition-gated) vote in, the vantage quorum and flap damping out;
    /// true when anything the loop reads changed.
    pub(super) fn evaluate(&mut self, gated: State, now: Instant) -> bool {
        self.quorum.report(CONTROLLER_VANTAGE, gated, now);
        // The verdict's lists only when several vantage points vote: with the controller
        // alone they say nothing its state does not (20,000 targets, every tick).
        let (votes, verdict) = if self.quorum.voters() > 1 {
            let v = self.quorum.verdict(now);
            (v.state, Some(Box::new(v)))
        } else {
            (self.quorum.state(now), None)
        };
        let (state, flapping) = match self.damper.as_mut() {
            Some(d) => {
                let damped = d.observe(votes, now);
                (damped.state, damped.flapping)
            }
            None => (votes, false),
        };
        let seen = (state, flapping, self.local);
        let votes_moved = self
            .last
            .as_ref()
            .is_none_or(|l| l.votes != votes || l.verdict != verdict);
        let moved = self.seen != Some(seen) || votes_moved;
        self.seen = Some(seen);
        self.last = Some(Evaluated {
            state,
            flapping,
            votes,
            verdict,
        });
        moved
    }
}

/// One target's last evaluation. The vantage verdict's lists are kept only when several
/// vantage points vote: with the controller alone they say nothing its state does not, and
/// keeping them cost an allocation per target (20,000 targets at 10,000 services).
pub(super) struct Evaluated {
    pub(super) state: State,
    pub(super) flapping: bool,
    /// The vantage quorum's own state (before flap damping).
    pub(super) votes: State,
    pub(super) verdict: Option<Box<VantageVerdict>>,
}

/// Flap damping: a single outage and recovery pass undamped; three changes within about a
/// half-life (a backend bouncing up and down) hold the target down until it calms.
pub(super) fn flap_config() -> FlapConfig {
    FlapConfig {
        penalty: 1000.0,
        half_life: std::time::Duration::from_secs(30),
        suppress: 2500.0,
        reuse: 1000.0,
        max_penalty: 6000.0,
    }
}
