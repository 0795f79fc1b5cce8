//! An in-memory zone with strict compare-and-swap semantics.
//!
//! Shared by the embedded DNS server (which answers from it) and the test `MemoryProvider`, so
//! both enforce the provider contract the same way: creating an existing set, or updating or
//! deleting a set that is not exactly `old`, is a conflict and changes nothing.
//!
//! Zones hold tens of thousands of names and the controller sends one change set per zone with
//! every service's change in it, so nothing here is linear in the zone size: sets are indexed by
//! owner name, a name's existence (empty non-terminals included) is a hash lookup, and a change
//! set of `c` changes costs `O(c log n)`.

use std::collections::{BTreeMap, HashMap};

use crate::change::{Change, ChangeSet};
use crate::record::{Fqdn, RecordKey, RecordSet, RecordType};

/// The record sets of one zone, indexed by name, with strict compare-and-swap application.
///
/// Iteration order (`all`) is by owner name, then by [`RecordKey`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneRecords {
    /// Sets by owner name, each name's sets sorted by identity. A sorted vector, not a map:
    /// a name owns one or two sets, where a map node costs ~2 KB (10,000 names: 20 MB).
    by_name: BTreeMap<Fqdn, Vec<RecordSet>>,
    /// Every proper ancestor of an owner name (as text), with the number of owner names below
    /// it: a name here without sets of its own is an empty non-terminal (NODATA, not NXDOMAIN).
    ancestors: HashMap<String, usize>,
    /// Number of sets.
    len: usize,
}

impl ZoneRecords {
    /// All sets of `name`/`rtype`, weighted members included.
    pub fn get(&self, name: &Fqdn, rtype: RecordType) -> Vec<RecordSet> {
        self.of_name(name)
            .filter(|s| s.rtype == rtype)
            .cloned()
            .collect()
    }

    /// All sets owned by `name`, of any type.
    pub fn of_name<'a>(&'a self, name: &Fqdn) -> impl Iterator<Item = &'a RecordSet> + 'a {
        self.by_name.get(name).into_iter().flat_map(|m| m.iter())
    }

    /// The set with identity `key`.
    pub fn get_key(&self, key: &RecordKey) -> Option<&RecordSet> {
        let sets = self.by_name.get(&key.name)?;
        position(sets, key).ok().and_then(|i| sets.get(i))
    }

    /// True when `name` owns a set or has sets below it (an empty non-terminal): for NXDOMAIN
    /// vs NODATA.
    pub fn has_name(&self, name: &Fqdn) -> bool {
        self.by_name.contains_key(name) || self.ancestors.contains_key(name.as_str())
    }

    /// Every set in the zone, ordered by identity.
    pub fn all(&self) -> impl Iterator<Item = &RecordSet> {
        self.by_name.values().flat_map(|m| m.iter())
    }

    /// Number of sets.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the zone holds no set.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores a set without any precondition (loading, seeding); returns the set it replaced.
    pub fn put(&mut self, set: RecordSet) -> Option<RecordSet> {
        let key = set.key();
        let new_name = !self.by_name.contains_key(&key.name);
        if new_name {
            for a in proper_ancestors(key.name.as_str()) {
                match self.ancestors.get_mut(a) {
                    Some(n) => *n += 1,
                    None => {
                        self.ancestors.insert(a.to_string(), 1);
                    }
                }
            }
        }
        let sets = self.by_name.entry(key.name.clone()).or_default();
        let replaced = match position(sets, &key) {
            Ok(i) => sets.get_mut(i).map(|old| std::mem::replace(old, set)),
            Err(i) => {
                // Most names hold one set: grow one at a time, not to four (at 10,000 names
                // the default growth kept 4 MB of empty slots).
                sets.reserve_exact(1);
                sets.insert(i, set);
                None
            }
        };
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// Removes a set without any precondition.
    pub fn remove(&mut self, key: &RecordKey) -> Option<RecordSet> {
        let sets = self.by_name.get_mut(&key.name)?;
        let removed = sets.remove(position(sets, key).ok()?);
        self.len -= 1;
        if sets.is_empty() {
            self.by_name.remove(&key.name);
            for a in proper_ancestors(key.name.as_str()) {
                if let Some(n) = self.ancestors.get_mut(a) {
                    *n -= 1;
                    if *n == 0 {
                        self.ancestors.remove(a);
                    }
                }
            }
        }
        Some(removed)
    }

    /// Checks every compare-and-swap precondition of `changes` against the current content,
    /// without changing anything: a create needs the set absent, an update or delete needs it
    /// to answer exactly like `old`. Returns the first failure.
    pub fn check_preconditions(&self, changes: &ChangeSet) -> Result<(), String> {
        for change in &changes.changes {
            let key = change.key();
            match (change, self.get_key(&key)) {
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
        Ok(())
    }

    /// Applies all changes or none. On a failed precondition returns the reason and leaves the
    /// zone as it was.
    pub fn apply_strict(&mut self, changes: &ChangeSet) -> Result<(), String> {
        self.check_preconditions(changes)?;
        self.apply_unchecked(changes);
        Ok(())
    }

    /// Applies `changes` in order without checking preconditions; the caller has checked them
    /// with [`ZoneRecords::check_preconditions`] (the embedded server checks first, then
    /// applies to a copy it validates further).
    pub fn apply_unchecked(&mut self, changes: &ChangeSet) {
        for change in &changes.changes {
            match change.after() {
                Some(new) => {
                    self.put(new.clone());
                }
                None => {
                    self.remove(&change.key());
                }
            }
        }
    }
}

/// Where the set with identity `key` is (or would go) among one name's sets, which are kept
/// in [`RecordKey`] order (same name: by type, then set identifier).
fn position(sets: &[RecordSet], key: &RecordKey) -> Result<usize, usize> {
    sets.binary_search_by(|s| {
        (s.rtype, s.set_id.as_deref()).cmp(&(key.rtype, key.set_id.as_deref()))
    })
}

/// `a.b.example.test.` -> `b.example.test.`, `example.test.`, `test.` (not the root).
fn proper_ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.')
        .map(move |(i, _)| &name[i + 1..])
        .filter(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fq(s: &str) -> Result<Fqdn, String> {
        Fqdn::new(s)
    }

    #[test]
    fn index_tracks_names_and_empty_non_terminals() -> Result<(), String> {
        let mut r = ZoneRecords::default();
        let a = RecordSet::new(
            fq("x.y.example.test")?,
            RecordType::A,
            60,
            vec!["192.0.2.1".into()],
        );
        let txt = RecordSet::new(
            fq("x.y.example.test")?,
            RecordType::Txt,
            60,
            vec!["\"t\"".into()],
        );
        let b = RecordSet::new(
            fq("z.y.example.test")?,
            RecordType::A,
            60,
            vec!["192.0.2.2".into()],
        );
        assert!(r.put(a.clone()).is_none());
        assert!(r.put(txt.clone()).is_none());
        assert!(r.put(a.clone()).is_some(), "same key replaces");
        r.put(b.clone());
        assert_eq!(r.len(), 3);
        assert_eq!(
            r.get(&fq("x.y.example.test")?, RecordType::A),
            vec![a.clone()]
        );
        assert_eq!(r.of_name(&fq("x.y.example.test")?).count(), 2);
        assert!(r.has_name(&fq("y.example.test")?), "empty non-terminal");
        assert!(!r.has_name(&fq("q.example.test")?));
        r.remove(&a.key());
        assert!(r.has_name(&fq("x.y.example.test")?), "TXT is still there");
        r.remove(&txt.key());
        assert!(!r.has_name(&fq("x.y.example.test")?));
        assert!(r.has_name(&fq("y.example.test")?), "z is still below");
        r.remove(&b.key());
        assert!(!r.has_name(&fq("y.example.test")?));
        assert_eq!(r.len(), 0);
        assert_eq!(r, ZoneRecords::default(), "no index entries left behind");
        Ok(())
    }
}
