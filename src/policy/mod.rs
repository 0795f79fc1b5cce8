//! Policy: target health -> what should be published, as an explicit per-service state machine.
//!
//! Third stage of the flow, probe -> health -> **policy** -> plan -> provider -> verify. It is
//! pure: given the service, its targets' health, its persisted [`ServiceState`] and the time,
//! [`decide`] returns the next state and the desired [`Publication`], with a reason. It never
//! reads or writes DNS; `reconcile` does, after `plan` has turned the publication into changes.
//!
//! Phases: `Normal` (primary, original TTL) -> `FailedOver` (backup, failover TTL) ->
//! `Canary` (primary's share raised step by step, each step gated) -> `Restoring` (all traffic
//! on the primary, failover TTL kept) -> `Normal` (original TTL restored). `AllDown` applies the
//! service's all-down policy and alerts. `Lowering` is a planned switch waiting out the old TTL.
//! A `hold` (operator, or a failed gate) freezes any phase until `resume`.

pub mod canary;
pub mod command;
mod decide;
pub mod operate;
pub mod reviewed;
#[cfg(test)]
mod testutil;
pub mod window;

use serde::{Deserialize, Serialize};

pub use decide::{decide, Decision, HookPoint, Observed};

/// Where a service is in its failover/failback cycle. Persisted before every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Traffic on the primary with the original TTL.
    Normal,
    /// Traffic on a backup target, failover TTL published. `manual` failovers (an operator's)
    /// never fail back by themselves.
    FailedOver {
        target: String,
        since_ms: u64,
        #[serde(default)]
        manual: bool,
    },
    /// Staged failback: the primary gets `steps[step]` percent, `backup` the rest.
    Canary {
        backup: String,
        step: usize,
        since_ms: u64,
    },
    /// Planned switch to `to`: the TTL was lowered; the switch waits until the old TTL has
    /// expired everywhere (`lowered_at_ms` + old TTL + margin).
    #[serde(rename = "lowering_ttl")]
    Lowering {
        to: String,
        old_ttl: u32,
        lowered_at_ms: Option<u64>,
    },
    /// Traffic back on the primary; the failover TTL stays until `restore_ttl_after` passed.
    #[serde(rename = "restoring_ttl")]
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
            Phase::Canary { .. } => "canary",
            Phase::Lowering { .. } => "lowering_ttl",
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
    /// Traffic split between the primary and a backup (canary failback), in percent.
    Split {
        primary: String,
        backup: String,
        primary_share: u32,
        ttl: u32,
    },
}

impl Publication {
    /// Where the answer points, for a log line's `target` field: a target's name, `all`, or
    /// `PRIMARY=N%,BACKUP=M%` for a split.
    pub fn target_label(&self) -> String {
        match self {
            Publication::Target { target, .. } => target.clone(),
            Publication::All { .. } => "all".into(),
            Publication::Split {
                primary,
                backup,
                primary_share,
                ..
            } => format!(
                "{primary}={primary_share}%,{backup}={}%",
                100u32.saturating_sub(*primary_share)
            ),
        }
    }

    /// The TTL to publish.
    pub fn ttl(&self) -> u32 {
        match self {
            Publication::Target { ttl, .. }
            | Publication::All { ttl }
            | Publication::Split { ttl, .. } => *ttl,
        }
    }
}

/// Everything the controller must remember about a service across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    pub phase: Phase,
    /// The TTL found (or first published) before the controller ever lowered it. Written
    /// once, durably, before the first change; restored when the service returns to normal.
    pub original_ttl: Option<u32>,
    /// What the controller last published and verified.
    pub published: Option<Publication>,
    /// When the last change was applied (unix ms), for the minimum interval between changes.
    pub last_change_ms: Option<u64>,
    /// Set while the service is frozen (operator `hold`, a failed gate, an abort).
    #[serde(default)]
    pub hold: Option<Hold>,
    /// Canary steps/hold given with an operator's `failback`, overriding the configuration.
    #[serde(default)]
    pub canary_override: Option<CanaryOverride>,
    /// An operator asked for failback (name); starts it without waiting for `stable_for`.
    #[serde(default)]
    pub failback_requested: Option<String>,
    /// The primary's baseline as it was when the service left normal (for canary gates after
    /// a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::health::baseline::SharedSnapshot>,
}

/// Why and by whom a service is frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub by: String,
    pub reason: String,
    pub since_ms: u64,
    /// The records were set by an operator's reviewed plan or rollback: the loop leaves them
    /// exactly as they are (no publication, no drift correction) until `resume`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
}

/// An operator's steps and hold time for one failback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryOverride {
    pub steps: Vec<u32>,
    pub hold_ms: Option<u64>,
}

impl Default for ServiceState {
    fn default() -> Self {
        ServiceState {
            phase: Phase::Normal,
            original_ttl: None,
            published: None,
            last_change_ms: None,
            hold: None,
            canary_override: None,
            failback_requested: None,
            baseline: None,
        }
    }
}
