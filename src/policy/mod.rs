//! Policy: target health -> what should be published, as an explicit per-service state machine.
//!
//! Third stage of the flow, probe -> health -> **policy** -> plan -> provider -> verify. It is
//! pure: given the service, its targets' health, its persisted [`ServiceState`] and the time,
//! [`decide`] returns the next state and the desired [`Publication`], with a reason. It never
//! reads or writes DNS; `reconcile` does, after `plan` has turned the publication into changes.
//!
//! Phases: `Normal` (primary, original TTL) -> `FailedOver` (backup, failover TTL) ->
//! `Restoring` (primary again, failover TTL kept until the primary proved stable) -> `Normal`
//! (original TTL restored). `AllDown` applies the service's all-down policy and alerts.

pub mod command;
mod decide;

use serde::{Deserialize, Serialize};

pub use decide::{decide, Decision, Observed};

/// Where a service is in its failover/failback cycle. Persisted before every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Traffic on the primary with the original TTL.
    Normal,
    /// Traffic on a backup target, failover TTL published.
    FailedOver { target: String, since_ms: u64 },
    /// Traffic back on the primary; the failover TTL stays until `restore_ttl_after` passed.
    Restoring { since_ms: u64 },
    /// Every target looks down; the all-down policy decides what stays published.
    AllDown { since_ms: u64 },
}

impl Phase {
    /// A short label for status output and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Phase::Normal => "normal",
            Phase::FailedOver { .. } => "failed_over",
            Phase::Restoring { .. } => "restoring_ttl",
            Phase::AllDown { .. } => "all_down",
        }
    }
}

/// What the records of a service should say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Publication {
    /// One target's values, as a plain record set.
    Target { target: String, ttl: u32 },
    /// Every target's values together (all-down policy `publish-all`).
    All { ttl: u32 },
}

impl Publication {
    /// The TTL to publish.
    pub fn ttl(&self) -> u32 {
        match self {
            Publication::Target { ttl, .. } | Publication::All { ttl } => *ttl,
        }
    }
}

/// Everything the controller must remember about a service across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub phase: Phase,
    /// The TTL found (or first published) before the controller ever lowered it. Written
    /// once, durably, before the first change; restored when the service returns to normal.
    pub original_ttl: Option<u32>,
    /// What the controller last published and verified.
    pub published: Option<Publication>,
    /// When the last change was applied (unix ms), for the minimum interval between changes.
    pub last_change_ms: Option<u64>,
}

impl Default for ServiceState {
    fn default() -> Self {
        ServiceState {
            phase: Phase::Normal,
            original_ttl: None,
            published: None,
            last_change_ms: None,
        }
    }
}
