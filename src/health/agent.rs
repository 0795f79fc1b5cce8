//! Reports from remote probe agents: the same checks, run from another vantage point.
//!
//! Enters the flow at `health`: an agent (`dnsfailback agent`) judges each target with the
//! same thresholds and quorum as the controller, and posts its verdicts to the admin API; the
//! control loop feeds them into each target's vantage quorum, so a target is declared down only
//! when enough vantage points agree.

use serde::{Deserialize, Serialize};

use super::State;

/// One agent's view of every target it probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentReport {
    /// The agent's name; must match the name of the token it authenticates with.
    pub agent: String,
    pub targets: Vec<TargetReport>,
}

/// One target's state as seen by the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetReport {
    pub service: String,
    pub target: String,
    pub state: State,
}
