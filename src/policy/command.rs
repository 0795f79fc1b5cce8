//! Operator commands: how a person steers the state machine through the admin API.
//!
//! Enter the flow at `policy`: the API (after authentication, role check and, where the service
//! requires it, a second operator's approval) sends an [`OperatorCommand`] to the control
//! loop, which applies it to the service's state between two ticks and answers on `reply`.
//! Every accepted command is written to the audit trail with the operator as actor.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// What the operator asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Planned failover: lower the TTL first, wait out the old TTL, then move traffic to `to`
    /// (default: the best healthy backup).
    Failover { to: Option<String> },
    /// Start (or restart) failback now, optionally with other steps/hold; `now` skips the
    /// stable time and the canary (all traffic at once).
    Failback {
        steps: Option<Vec<u32>>,
        #[serde(default, with = "crate::probe::duration_opt")]
        hold: Option<Duration>,
        #[serde(default)]
        now: bool,
    },
    /// Freeze the service where it is: no automatic change until `resume`.
    Hold,
    /// Undo `hold` (or a frozen canary): the state machine continues.
    Resume,
    /// Return to the last stable state (the backup during a failback, the primary during a
    /// planned failover) and stop the operation in progress.
    Abort,
    /// Apply a reviewed plan file (`dnsfailback apply`), only against the records it was
    /// planned on; the services stay pinned to it until `resume`.
    Apply {
        plan: Box<super::reviewed::PlanDocument>,
    },
    /// Apply the inverse of applied change `change_id` (`dnsfailback rollback`); `force`
    /// allows it while newer changes of the same records exist.
    Rollback {
        change_id: i64,
        #[serde(default)]
        force: bool,
    },
}

impl Operation {
    /// `apply` and `rollback`: they change records the operator chose, through a job of the
    /// loop's (reconcile's `govern`), not the service's state machine.
    pub fn is_governed(&self) -> bool {
        matches!(self, Operation::Apply { .. } | Operation::Rollback { .. })
    }

    /// The verb, for audit and messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Operation::Failover { .. } => "failover",
            Operation::Failback { .. } => "failback",
            Operation::Hold => "hold",
            Operation::Resume => "resume",
            Operation::Abort => "abort",
            Operation::Apply { .. } => "apply",
            Operation::Rollback { .. } => "rollback",
        }
    }
}

/// A command on its way to the control loop.
#[derive(Debug)]
pub struct OperatorCommand {
    pub service: String,
    pub op: Operation,
    /// Operator name (from the token), or "alice approved by bob" after a two-person approval.
    pub actor: String,
    /// `Ok(message)` when accepted, `Err(reason)` when refused (unknown target, wrong phase).
    pub reply: oneshot::Sender<Result<String, String>>,
}
