//! Static records (`[[providers.<instance>.records]]`): the rest of a small zone (MX and TXT
//! for mail, CAA, A records of mail hosts...) served beside the record sets the controller
//! manages, so the embedded server can be a zone's only primary.
//!
//! Sits beside the provider step (plan -> **provider** -> verify): static records never change
//! while the server runs, and an apply that would touch one (same name and type, or a CNAME
//! beside one) is refused with the key to edit instead. Values are zone-file presentation
//! text, parsed once at start-up with hickory's own zone-file parser, so every type it reads
//! (the [`TYPES`] list) can be served.

use std::collections::BTreeMap;
use std::str::FromStr;

use dnsfailback_provider::wire::to_wire_type;
use dnsfailback_provider::{Change, ChangeSet, Fqdn};
use hickory_proto::rr::{RData, Record, RecordType as WireType};

use crate::config::StaticRecord;
use crate::rdata::name;
use crate::state::zone_for;

/// Types a static record may have. SOA and NS come from `soa` and `nameservers`; DNSSEC types
/// would need signing; meta types are not data.
pub const TYPES: [WireType; 13] = [
    WireType::A,
    WireType::AAAA,
    WireType::CAA,
    WireType::CNAME,
    WireType::HTTPS,
    WireType::MX,
    WireType::NAPTR,
    WireType::PTR,
    WireType::SRV,
    WireType::SSHFP,
    WireType::SVCB,
    WireType::TLSA,
    WireType::TXT,
];

/// The static records of every served zone, by owner name; see the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticRecords {
    by_name: BTreeMap<Fqdn, Vec<(usize, Record)>>,
}

impl StaticRecords {
    /// Parses and checks `records` (their index is the key in messages) against the `served`
    /// zones and the name-server `hosts`; problems are pushed, one sentence each with the fix.
    pub fn build(
        records: &[StaticRecord],
        served: &[Fqdn],
        complete: bool,
        hosts: &[&Fqdn],
        problems: &mut Vec<String>,
    ) -> Self {
        let mut out = StaticRecords::default();
        for (i, r) in records.iter().enumerate() {
            let key = format!("records[{i}]");
            let Some(parsed) = parse(&key, r, problems) else {
                continue;
            };
            let t = parsed.first().map_or(WireType::NULL, Record::record_type);
            match zone_for(served, &r.name) {
                None if complete => {
                    problems.push(format!(
                    "{key}: {} is outside every served zone ({}); a static record must be in a \
                     zone this server serves",
                    r.name,
                    served.iter().map(Fqdn::as_str).collect::<Vec<_>>().join(", ")
                ))
                }
                Some(zone) if zone == &r.name && t == WireType::CNAME => problems.push(format!(
                    "{key}: a CNAME cannot be at the zone apex {zone}, which holds SOA and NS"
                )),
                _ => {}
            }
            if hosts.contains(&&r.name)
                && matches!(t, WireType::A | WireType::AAAA | WireType::CNAME)
            {
                problems.push(format!(
                    "{key}: {} {t} is a name server's address; set it in `nameservers` instead",
                    r.name
                ));
            }
            let at = out.by_name.entry(r.name.clone()).or_default();
            if let Some((j, _)) = at.iter().find(|(_, rec)| rec.record_type() == t) {
                problems.push(format!(
                    "{key}: {} {t} is already in records[{j}]; list all its values there",
                    r.name
                ));
            }
            at.extend(parsed.into_iter().map(|rec| (i, rec)));
            let types: Vec<WireType> = at.iter().map(|(_, rec)| rec.record_type()).collect();
            if types.contains(&WireType::CNAME) && types.iter().any(|x| *x != WireType::CNAME) {
                problems.push(format!(
                    "{key}: {} has a CNAME and other records; a CNAME must be alone at its name",
                    r.name
                ));
            }
        }
        out
    }

    /// The records of `qtype` at `name` (every type for ANY), in the order configured.
    pub fn at(&self, name: &Fqdn, qtype: WireType) -> Vec<Record> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(_, r)| qtype == WireType::ANY || r.record_type() == qtype)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Every static record with its owner name, by name.
    pub fn all(&self) -> impl Iterator<Item = (&Fqdn, &Record)> {
        self.by_name
            .iter()
            .flat_map(|(name, v)| v.iter().map(move |(_, r)| (name, r)))
    }

    /// True when `name` has a static record of type `t`.
    pub fn has(&self, name: &Fqdn, t: WireType) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|v| v.iter().any(|(_, r)| r.record_type() == t))
    }

    /// True when a static record is at `name` or below it, so `name` exists.
    pub fn holds_name(&self, name: &Fqdn) -> bool {
        self.by_name.keys().any(|n| n.is_in_zone(name))
    }

    /// The static CNAME at `name` and its target, if there is one.
    pub fn cname(&self, name: &Fqdn) -> Option<(Vec<Record>, Option<Fqdn>)> {
        let records = self.at(name, WireType::CNAME);
        let target = match &records.first()?.data {
            RData::CNAME(c) => Fqdn::new(&c.0.to_ascii()).ok(),
            _ => None,
        };
        Some((records, target))
    }

    /// Record sets of `changes` that a static record owns: the same name and type, a CNAME
    /// beside static records, or anything beside a static CNAME.
    pub fn conflicts(&self, changes: &ChangeSet) -> Vec<String> {
        let mut out = Vec::new();
        for set in changes.changes.iter().filter_map(|c| match c {
            Change::Create { new } | Change::Update { new, .. } => Some(new),
            Change::Delete { .. } => None,
        }) {
            let Some(statics) = self.by_name.get(&set.name) else {
                continue;
            };
            let t = to_wire_type(set.rtype);
            let clash = statics.iter().find(|(_, r)| {
                let s = r.record_type();
                s == t || s == WireType::CNAME || t == WireType::CNAME
            });
            if let Some((i, r)) = clash {
                out.push(format!(
                    "{} {}: clashes with the static {} record records[{i}] in the provider \
                     settings; change it there, or publish this service under another name",
                    set.name,
                    set.rtype,
                    r.record_type()
                ));
            }
        }
        out
    }
}

/// One `records` entry as wire records, or `None` after pushing why not.
fn parse(key: &str, r: &StaticRecord, problems: &mut Vec<String>) -> Option<Vec<Record>> {
    let t = match WireType::from_str(&r.rtype.to_ascii_uppercase()) {
        Ok(t) if TYPES.contains(&t) => t,
        _ => {
            let names: Vec<String> = TYPES.iter().map(ToString::to_string).collect();
            problems.push(format!(
                "{key}.type = \"{}\": static records may be {}",
                r.rtype,
                names.join(", ")
            ));
            return None;
        }
    };
    if r.values.is_empty() || (t == WireType::CNAME && r.values.len() != 1) {
        let want = if t == WireType::CNAME {
            "exactly one value"
        } else {
            "at least one value"
        };
        problems.push(format!("{key}.values: a {t} record takes {want}"));
        return None;
    }
    if r.ttl == 0 || r.ttl > i32::MAX as u32 {
        problems.push(format!(
            "{key}.ttl = {}: must be between 1 and 2147483647 seconds",
            r.ttl
        ));
        return None;
    }
    let owner = name(r.name.as_str()).ok()?;
    let mut out = Vec::new();
    for (j, value) in r.values.iter().enumerate() {
        match RData::try_from_str(t, value) {
            Ok(rdata) => out.push(Record::from_rdata(owner.clone(), r.ttl, rdata)),
            Err(e) => problems.push(format!(
                "{key}.values[{j}] = {value:?}: not a {t} value: {e}"
            )),
        }
    }
    (out.len() == r.values.len()).then_some(out)
}

#[cfg(test)]
mod tests;
