//! Change sets: what the planner hands to a provider.
//!
//! Sits between plan and provider in the flow (plan -> **change set** -> provider -> verify).
//! A change set is plain, serialisable data: `dnsfailback plan` prints it, the state store
//! journals it before it is applied, and the audit log keeps it. Each update carries the old
//! set beside the new one, so adapters can use it as a prerequisite and the journal keeps the
//! values (and TTL) being replaced.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::capability::Capabilities;
use crate::record::{Fqdn, RecordKey, RecordSet};

/// One change to one record set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// The set must not exist yet.
    Create { new: RecordSet },
    /// The set must currently be exactly `old` (same values, TTL and weight).
    Update { old: RecordSet, new: RecordSet },
    /// The set must currently be exactly `old`.
    Delete { old: RecordSet },
}

impl Change {
    /// The record set this change touches.
    pub fn key(&self) -> RecordKey {
        match self {
            Change::Create { new } => new.key(),
            Change::Update { new, .. } => new.key(),
            Change::Delete { old } => old.key(),
        }
    }

    /// The set as it should be afterwards; `None` for a delete.
    pub fn after(&self) -> Option<&RecordSet> {
        match self {
            Change::Create { new } | Change::Update { new, .. } => Some(new),
            Change::Delete { .. } => None,
        }
    }

    /// The set as it is expected to be beforehand; `None` for a create.
    pub fn before(&self) -> Option<&RecordSet> {
        match self {
            Change::Update { old, .. } | Change::Delete { old } => Some(old),
            Change::Create { .. } => None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Create { new } => write!(f, "+ create {new}"),
            Change::Update { old, new } => write!(f, "~ update {old}\n         -> {new}"),
            Change::Delete { old } => write!(f, "- delete {old}"),
        }
    }
}

/// The changes to one zone that belong together and should be applied in one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    pub zone: Fqdn,
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// An empty change set for `zone`.
    pub fn new(zone: Fqdn) -> Self {
        ChangeSet {
            zone,
            changes: Vec::new(),
        }
    }

    /// Records this change set carries: every value of every set before and after. An upper
    /// bound of what a provider counts against its per-request limit (Route 53 counts a
    /// delete's and a create's values; an UPSERT twice).
    pub fn record_count(&self) -> usize {
        self.changes
            .iter()
            .flat_map(|c| [c.before(), c.after()])
            .flatten()
            .map(|s| s.values.len().max(1))
            .sum()
    }

    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Checks the change set against the provider's declared capabilities and basic DNS rules.
    ///
    /// Returns every problem found, each naming the record set, so no change reaches DNS from
    /// an invalid plan. Adapters call it again before sending: a defence that costs nothing.
    pub fn validate(&self, caps: &Capabilities) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for change in &self.changes {
            let key = change.key();
            if !seen.insert(key.clone()) {
                problems.push(format!("{key}: changed twice in one change set"));
            }
            if !key.name.is_in_zone(&self.zone) {
                problems.push(format!("{key}: name is outside zone {}", self.zone));
            }
            if let Change::Update { old, new } = change {
                if old.key() != new.key() {
                    problems.push(format!(
                        "{key}: an update cannot change the identity (was {})",
                        old.key()
                    ));
                }
            }
            for set in [change.before(), change.after()].into_iter().flatten() {
                check_set(set, caps, &mut problems);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn check_set(set: &RecordSet, caps: &Capabilities, problems: &mut Vec<String>) {
    let key = set.key();
    if set.values.is_empty() {
        problems.push(format!("{key}: a record set needs at least one value"));
    }
    for v in &set.values {
        if let Err(e) = set.rtype.normalize_value(v) {
            problems.push(format!("{key}: {e}"));
        }
    }
    if !caps.record_types.contains(set.rtype) {
        problems.push(format!(
            "{key}: this provider cannot publish {} records (it supports {})",
            set.rtype, caps.record_types
        ));
    }
    if set.ttl < caps.min_ttl {
        problems.push(format!(
            "{key}: TTL {} is below this provider's minimum of {}",
            set.ttl, caps.min_ttl
        ));
    }
    match (&set.set_id, set.weight) {
        (None, Some(_)) => problems.push(format!("{key}: a weight needs a set identifier")),
        // A provider-native failover set (Route 53 PRIMARY/SECONDARY) has an identifier but
        // no weight; the adapter validates its own routing attributes.
        (Some(_), None) if set.meta.contains_key("failover") => {}
        (Some(_), _) if !caps.weighted => problems.push(format!(
            "{key}: this provider has no weighted record sets (capability `weighted` is off)"
        )),
        (Some(_), None) => problems.push(format!("{key}: a weighted set needs a weight")),
        (Some(_), Some(w)) if w > caps.max_weight => problems.push(format!(
            "{key}: weight {w} is above this provider's maximum of {}",
            caps.max_weight
        )),
        _ => {}
    }
}

impl fmt::Display for ChangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return write!(f, "zone {}: no changes", self.zone);
        }
        writeln!(f, "zone {}: {} change(s)", self.zone, self.changes.len())?;
        for c in &self.changes {
            writeln!(f, "  {c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordType;

    fn fq(s: &str) -> Fqdn {
        Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn validate_reports_every_problem() {
        let caps = Capabilities {
            weighted: false,
            min_ttl: 30,
            ..Capabilities::default()
        };
        let cs = ChangeSet {
            zone: fq("example.test"),
            changes: vec![
                Change::Create {
                    new: RecordSet::new(fq("www.other.test"), RecordType::A, 5, vec!["x".into()]),
                },
                Change::Create {
                    new: RecordSet::weighted(
                        fq("a.example.test"),
                        RecordType::A,
                        60,
                        vec!["192.0.2.1".into()],
                        "p",
                        5,
                    ),
                },
            ],
        };
        let problems = cs.validate(&caps).err().unwrap_or_default();
        assert!(
            problems.iter().any(|p| p.contains("outside zone")),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("below")), "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("not an IPv4")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("weighted")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_type_the_provider_cannot_publish_is_refused() {
        let caps = Capabilities {
            record_types: crate::RecordTypes::of(&[RecordType::A, RecordType::Aaaa]),
            ..Capabilities::default()
        };
        let txt = RecordSet::new(
            fq("t.example.test"),
            RecordType::Txt,
            60,
            vec!["\"hello\"".into()],
        );
        let cs = ChangeSet {
            zone: fq("example.test"),
            changes: vec![Change::Create { new: txt }],
        };
        let problems = cs.validate(&caps).err().unwrap_or_default();
        assert_eq!(
            problems,
            vec!["t.example.test. TXT: this provider cannot publish TXT records (it supports A, AAAA)"],
        );
        assert_eq!(cs.validate(&Capabilities::default()), Ok(()));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let set = RecordSet::new(
            fq("a.example.test"),
            RecordType::A,
            60,
            vec!["192.0.2.1".into()],
        );
        let cs = ChangeSet {
            zone: fq("example.test"),
            changes: vec![
                Change::Create { new: set.clone() },
                Change::Delete { old: set },
            ],
        };
        assert!(cs.validate(&Capabilities::default()).is_err());
    }
}
