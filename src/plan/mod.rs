//! Plan: a desired publication vs the provider's real records -> a validated [`ChangeSet`].
//!
//! Fourth stage of the flow, probe -> health -> policy -> **plan** -> provider -> verify. Pure
//! and exhaustively unit-tested: [`desired_sets`] renders a [`Publication`] as record sets,
//! [`diff`] compares them with what the provider holds, and [`Plan`] carries the result with
//! any validation problems. Dry-run lives here, never in adapters: `dnsfailback plan` prints a
//! plan and stops; `reconcile` applies only plans whose `problems` are empty.

mod diff;

use serde::Serialize;

use dnsfailback_provider::{Capabilities, ChangeSet};

pub use diff::{desired_sets, diff, split_note};

/// The changes one service needs, and whether they may be applied.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Plan {
    pub service: String,
    pub changes: ChangeSet,
    /// Why the plan must not be applied; empty when it is valid.
    pub problems: Vec<String>,
}

impl Plan {
    /// Validates `changes` against the provider's capabilities.
    pub fn new(service: &str, changes: ChangeSet, caps: &Capabilities) -> Self {
        let problems = changes.validate(caps).err().unwrap_or_default();
        Plan {
            service: service.to_string(),
            changes,
            problems,
        }
    }

    /// True when the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// True when the plan may be applied.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "service {}: {}", self.service, self.changes)?;
        for p in &self.problems {
            writeln!(f, "  INVALID: {p}")?;
        }
        Ok(())
    }
}
