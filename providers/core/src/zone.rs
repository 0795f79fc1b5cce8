//! An in-memory zone with strict compare-and-swap semantics.
//!
//! Shared by the embedded DNS server (which answers from it) and the test `MemoryProvider`, so
//! both enforce the provider contract the same way: creating an existing set, or updating or
//! deleting a set that is not exactly `old`, is a conflict and changes nothing.

use std::collections::BTreeMap;

use crate::change::{Change, ChangeSet};
use crate::record::{Fqdn, RecordKey, RecordSet, RecordType};

/// The record sets of one zone, keyed by identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneRecords {
    sets: BTreeMap<RecordKey, RecordSet>,
}

impl ZoneRecords {
    /// All sets of `name`/`rtype`, weighted members included.
    pub fn get(&self, name: &Fqdn, rtype: RecordType) -> Vec<RecordSet> {
        self.sets
            .values()
            .filter(|s| &s.name == name && s.rtype == rtype)
            .cloned()
            .collect()
    }

    /// True when any set exists under `name`, of any type (for NXDOMAIN vs NODATA).
    pub fn has_name(&self, name: &Fqdn) -> bool {
        self.sets.keys().any(|k| &k.name == name)
    }

    /// Every set in the zone.
    pub fn all(&self) -> impl Iterator<Item = &RecordSet> {
        self.sets.values()
    }

    /// Replaces a set without any precondition (zone seeding, simulating an external edit).
    pub fn put(&mut self, set: RecordSet) {
        self.sets.insert(set.key(), set);
    }

    /// Removes a set without any precondition.
    pub fn remove(&mut self, key: &RecordKey) -> Option<RecordSet> {
        self.sets.remove(key)
    }

    /// Applies all changes or none. On a failed precondition returns the reason and leaves the
    /// zone as it was.
    pub fn apply_strict(&mut self, changes: &ChangeSet) -> Result<(), String> {
        for change in &changes.changes {
            let key = change.key();
            let current = self.sets.get(&key);
            match (change, current) {
                (Change::Create { .. }, Some(cur)) => {
                    return Err(format!("{key}: cannot create, it already exists as {cur}"))
                }
                (Change::Update { old, .. } | Change::Delete { old }, None) => {
                    return Err(format!("{key}: expected {old} but it does not exist"))
                }
                (Change::Update { old, .. } | Change::Delete { old }, Some(cur))
                    if !cur.same_answer(old) =>
                {
                    return Err(format!("{key}: expected {old} but found {cur}"))
                }
                _ => {}
            }
        }
        for change in &changes.changes {
            match change.after() {
                Some(new) => {
                    self.sets.insert(new.key(), new.clone());
                }
                None => {
                    self.sets.remove(&change.key());
                }
            }
        }
        Ok(())
    }
}
