//! Change records: every change applied to DNS, kept with its id so it can be undone.
//!
//! Part of `state`, at the end of the flow (provider -> verify -> **record**): once a zone
//! job (an automatic change) or a governed change (a reviewed plan, a rollback) has been
//! read back, its [`ChangeRecord`] is stored under the id of its intent. `history` shows the
//! id; `dnsfailback rollback ID` applies [`inverse`] of the record's change set through the
//! same compare-and-swap checks. A rollback's own record names the change it undid
//! (`rollback_of`), and storing it marks that change rolled back in the same write, so a
//! change is never rolled back twice.

use dnsfailback_provider::{Change, ChangeSet, RecordKey};
use serde::{Deserialize, Serialize};

/// One applied, verified change, by id (the id of the intent that journaled it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub id: i64,
    pub service: String,
    pub at_ms: u64,
    /// `controller` or the operator who asked for it.
    pub actor: String,
    /// The audit verb it was recorded with (`failover`, `plan_apply`, `rollback`, ...).
    pub action: String,
    /// What was applied; each change carries the sets it replaced, so its inverse is known.
    pub changes: ChangeSet,
    /// Set on a rollback's record: the change it undid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<i64>,
    /// Set once the change has been rolled back: the rollback's change id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<i64>,
}

impl ChangeRecord {
    /// The record sets this change touched.
    pub fn keys(&self) -> Vec<RecordKey> {
        self.changes.changes.iter().map(Change::key).collect()
    }
}

/// The change set that undoes `cs`: each change swapped (a create becomes a delete of what it
/// created, an update goes back from new to old), in reverse order. Applied with the same
/// compare-and-swap preconditions, it fails as a conflict if the records moved since.
pub fn inverse(cs: &ChangeSet) -> ChangeSet {
    let changes = cs
        .changes
        .iter()
        .rev()
        .map(|c| match c {
            Change::Create { new } => Change::Delete { old: new.clone() },
            Change::Update { old, new } => Change::Update {
                old: new.clone(),
                new: old.clone(),
            },
            Change::Delete { old } => Change::Create { new: old.clone() },
        })
        .collect();
    ChangeSet {
        zone: cs.zone.clone(),
        changes,
    }
}

/// A store's check before it marks change `id` rolled back: it exists and was not rolled
/// back already (two operators rolling back the same change: the second is refused).
pub(crate) fn check_rollback_of(
    record: Option<&ChangeRecord>,
    id: i64,
) -> Result<(), super::StoreError> {
    match record {
        None => Err(super::StoreError(format!("no change {id}"))),
        Some(r) => match r.rolled_back_by {
            Some(by) => Err(super::StoreError(format!(
                "change {id} was already rolled back by change {by}"
            ))),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use dnsfailback_provider::{Fqdn, RecordSet, RecordType};

    fn set(ttl: u32, v: &str) -> RecordSet {
        let name = Fqdn::new("shop.example.test").unwrap();
        RecordSet::new(name, RecordType::A, ttl, vec![v.to_string()])
    }

    #[test]
    fn the_inverse_swaps_each_change_and_undoes_the_order() {
        let cs = ChangeSet {
            zone: Fqdn::new("example.test").unwrap(),
            changes: vec![
                Change::Update {
                    old: set(300, "192.0.2.1"),
                    new: set(30, "192.0.2.2"),
                },
                Change::Create {
                    new: set(60, "192.0.2.3"),
                },
                Change::Delete {
                    old: set(60, "192.0.2.4"),
                },
            ],
        };
        let inv = inverse(&cs);
        assert_eq!(
            inv.changes,
            vec![
                Change::Create {
                    new: set(60, "192.0.2.4")
                },
                Change::Delete {
                    old: set(60, "192.0.2.3")
                },
                Change::Update {
                    old: set(30, "192.0.2.2"),
                    new: set(300, "192.0.2.1"),
                },
            ]
        );
        assert_eq!(
            inverse(&inv),
            cs,
            "the inverse of the inverse is the change"
        );
    }
}
