//! The zone content the embedded server answers from, and the rules a change must keep.
//!
//! Sits inside the provider step (plan -> **provider** -> verify): `apply` checks a change set
//! against a zone ([`ZoneRecords::check_preconditions`]) plus the DNS rules below, builds the new
//! zone once, persists it, and only then swaps it in, so the DNS listener never serves a state
//! that is not on disk.
//!
//! # Cost
//!
//! Zones hold tens of thousands of names and the controller sends one change set per zone with
//! every service's change in it, so nothing here is linear in the zone size per change: record
//! sets are indexed by name ([`Records`]), a name's existence (including empty non-terminals)
//! is a hash lookup, and a change set of `c` changes costs `O(c log n)` checks plus one copy of
//! the zone it changes. Other zones are shared (`Arc`), not copied.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dnsfailback_provider::{Change, ChangeSet, Fqdn, RecordSet, RecordType, ZoneRecords};

/// A zone's record sets: the provider core's indexed, strict zone.
pub type Records = ZoneRecords;

/// One zone: its record sets and the SOA serial, which goes up by one on every apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneState {
    /// The record sets, with the same strict compare-and-swap rules as every provider.
    pub records: Records,
    /// SOA serial; starts at 1.
    pub serial: u32,
}

impl Default for ZoneState {
    fn default() -> Self {
        ZoneState {
            records: Records::default(),
            serial: 1,
        }
    }
}

/// Every zone known to the instance, including zones kept in the data file that are not served
/// now (they are carried over untouched, so removing a zone from the config loses nothing).
///
/// Zones are shared: cloning a store copies pointers, and an apply copies only the zone it
/// changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    /// Zones by apex name.
    pub zones: BTreeMap<Fqdn, Arc<ZoneState>>,
}

impl Store {
    /// A store with at least an empty zone for each of `served`.
    pub fn with_zones(mut self, served: &[Fqdn]) -> Self {
        for z in served {
            self.zones.entry(z.clone()).or_default();
        }
        self
    }
}

/// The most specific of `zones` that contains `name`, if any.
pub fn zone_for<'a>(zones: &'a [Fqdn], name: &Fqdn) -> Option<&'a Fqdn> {
    zones
        .iter()
        .filter(|z| name.is_in_zone(z))
        .max_by_key(|z| z.as_str().len())
}

/// Applies `changes` to a copy of `zone` and checks the result; returns the new zone state
/// (serial incremented) or the reasons it was refused, with `conflict` set when a
/// compare-and-swap precondition failed.
///
/// Everything that can refuse the change set is checked before the zone is copied, except the
/// per-name rules (CNAME, plain/weighted mixing), which look at the result; so a refused
/// change set costs `O(c log n)` and an accepted one one copy of the zone on top.
pub fn plan_apply(
    zone: &ZoneState,
    changes: &ChangeSet,
    served: &[Fqdn],
) -> Result<ZoneState, Refusal> {
    let mut problems = Vec::new();
    for change in &changes.changes {
        let key = change.key();
        if let Some(owner) = zone_for(served, &key.name) {
            if owner != &changes.zone {
                problems.push(format!(
                    "{key}: the name belongs to the more specific zone {owner}; apply it there"
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Refusal::invalid(problems));
    }
    zone.records
        .check_preconditions(changes)
        .map_err(|msg| Refusal {
            conflict: true,
            problems: vec![msg],
        })?;
    let mut next = zone.clone();
    next.records.apply_unchecked(changes);
    let touched: BTreeSet<&Fqdn> = changes
        .changes
        .iter()
        .map(|c| match c {
            Change::Create { new } | Change::Update { new, .. } => &new.name,
            Change::Delete { old } => &old.name,
        })
        .collect();
    for name in touched {
        check_name(&next.records, name, &changes.zone, &mut problems);
    }
    if !problems.is_empty() {
        return Err(Refusal::invalid(problems));
    }
    next.serial = next_serial(zone.serial);
    Ok(next)
}

/// Why a change set was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// True when the zone differs from the change set's expectations (re-read and re-plan).
    pub conflict: bool,
    /// One line per problem, each naming the record set.
    pub problems: Vec<String>,
}

impl Refusal {
    fn invalid(problems: Vec<String>) -> Self {
        Refusal {
            conflict: false,
            problems,
        }
    }
}

/// RFC 1982 style increment that never lands on 0, so a fresh zone (serial 1) always compares
/// lower than a changed one for the first 2^31 changes.
fn next_serial(serial: u32) -> u32 {
    match serial.wrapping_add(1) {
        0 => 1,
        s => s,
    }
}

/// DNS rules a single name must keep after a change: no CNAME beside other data (and none at
/// the apex, which holds SOA and NS), and no mix of plain and weighted sets of one type.
pub fn check_name(records: &Records, name: &Fqdn, zone: &Fqdn, problems: &mut Vec<String>) {
    let sets: Vec<&RecordSet> = records.of_name(name).collect();
    let types: BTreeSet<RecordType> = sets.iter().map(|s| s.rtype).collect();
    if types.contains(&RecordType::Cname) {
        if name == zone {
            problems.push(format!(
                "{name} CNAME: a CNAME cannot be at the zone apex, which holds SOA and NS"
            ));
        }
        if types.len() > 1 {
            problems.push(format!(
                "{name} CNAME: a CNAME cannot share its name with other record types"
            ));
        }
    }
    for t in types {
        let of_type = sets.iter().filter(|s| s.rtype == t);
        let weighted = of_type.clone().filter(|s| s.set_id.is_some()).count();
        let plain = of_type.count() - weighted;
        if weighted > 0 && plain > 0 {
            problems.push(format!(
                "{name} {t}: plain and weighted record sets cannot be mixed under one name and type"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::Change;

    fn fq(s: &str) -> Result<Fqdn, String> {
        Fqdn::new(s)
    }

    fn cs(zone: &Fqdn, changes: Vec<Change>) -> ChangeSet {
        ChangeSet {
            zone: zone.clone(),
            changes,
        }
    }

    #[test]
    fn serial_goes_up_and_conflicts_are_flagged() -> Result<(), String> {
        let zone = fq("example.test")?;
        let set = RecordSet::new(
            fq("a.example.test")?,
            RecordType::A,
            60,
            vec!["192.0.2.1".into()],
        );
        let z0 = ZoneState::default();
        let z1 = plan_apply(
            &z0,
            &cs(&zone, vec![Change::Create { new: set.clone() }]),
            &[],
        )
        .map_err(|r| r.problems.join("; "))?;
        assert_eq!(z1.serial, 2);
        let again = plan_apply(&z1, &cs(&zone, vec![Change::Create { new: set }]), &[]);
        assert!(again.is_err_and(|r| r.conflict));
        assert_eq!(next_serial(u32::MAX), 1);
        Ok(())
    }

    #[test]
    fn cname_and_mixing_rules() -> Result<(), String> {
        let zone = fq("example.test")?;
        let n = fq("a.example.test")?;
        let cname = RecordSet::new(
            n.clone(),
            RecordType::Cname,
            60,
            vec!["b.example.test.".into()],
        );
        let a = RecordSet::new(n.clone(), RecordType::A, 60, vec!["192.0.2.1".into()]);
        let w = RecordSet::weighted(n, RecordType::A, 60, vec!["192.0.2.2".into()], "x", 1);
        let z = ZoneState::default();
        let r = plan_apply(
            &z,
            &cs(
                &zone,
                vec![
                    Change::Create { new: cname },
                    Change::Create { new: a.clone() },
                ],
            ),
            &[],
        );
        assert!(r.is_err_and(|r| !r.conflict && r.problems[0].contains("CNAME")));
        let r = plan_apply(
            &z,
            &cs(
                &zone,
                vec![Change::Create { new: a }, Change::Create { new: w }],
            ),
            &[],
        );
        assert!(r.is_err_and(|r| r.problems[0].contains("mixed")));
        let apex = RecordSet::new(
            zone.clone(),
            RecordType::Cname,
            60,
            vec!["b.example.test.".into()],
        );
        let r = plan_apply(&z, &cs(&zone, vec![Change::Create { new: apex }]), &[]);
        assert!(r.is_err_and(|r| r.problems[0].contains("apex")));
        Ok(())
    }

    #[test]
    fn a_conflict_anywhere_in_a_batch_changes_nothing() -> Result<(), String> {
        let zone = fq("example.test")?;
        let mut z = ZoneState::default();
        let set = |i: usize, ip: &str| -> Result<RecordSet, String> {
            Ok(RecordSet::new(
                fq(&format!("s{i}.example.test"))?,
                RecordType::A,
                60,
                vec![ip.into()],
            ))
        };
        for i in 0..100 {
            z.records.put(set(i, "192.0.2.1")?);
        }
        let mut changes = Vec::new();
        for i in 0..100 {
            changes.push(Change::Update {
                old: set(i, if i == 99 { "192.0.2.7" } else { "192.0.2.1" })?,
                new: set(i, "192.0.2.2")?,
            });
        }
        let r = plan_apply(&z, &cs(&zone, changes), &[]);
        assert!(r.is_err_and(|r| r.conflict && r.problems[0].contains("s99.")));
        Ok(())
    }

    #[test]
    fn names_of_a_child_zone_go_to_the_child() -> Result<(), String> {
        let parent = fq("example.test")?;
        let child = fq("sub.example.test")?;
        assert_eq!(
            zone_for(&[parent.clone(), child.clone()], &fq("a.sub.example.test")?),
            Some(&child)
        );
        assert_eq!(
            zone_for(std::slice::from_ref(&parent), &fq("other.test")?),
            None
        );
        let set = RecordSet::new(
            fq("a.sub.example.test")?,
            RecordType::A,
            60,
            vec!["192.0.2.1".into()],
        );
        let r = plan_apply(
            &ZoneState::default(),
            &cs(&parent, vec![Change::Create { new: set }]),
            &[parent.clone(), child],
        );
        assert!(r.is_err_and(|r| r.problems[0].contains("more specific zone")));
        Ok(())
    }
}
