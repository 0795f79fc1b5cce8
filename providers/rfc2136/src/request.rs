//! Pure message builders and converters: change sets to RFC 2136 UPDATE messages, DNS records
//! back to [`RecordSet`]s. No I/O, so every section can be unit-tested offline.
//!
//! Sits inside the provider step of probe -> health -> policy -> plan -> **provider** ->
//! verify: [`crate::provider`] hands a validated [`ChangeSet`] to [`build_update`], and
//! [`crate::client`] signs and sends the result.
//!
//! One change set becomes one UPDATE message (RFC 2136 section 3: all or nothing):
//!
//! | change   | prerequisite section (2.4)                         | update section (2.5)              |
//! |----------|----------------------------------------------------|-----------------------------------|
//! | `Create` | RRset does not exist (2.4.3: NONE, TTL 0, no data) | add each new RR (2.5.1)           |
//! | `Update` | RRset exists, value dependent (2.4.2: old RRs)     | delete RRset (2.5.2), add new RRs |
//! | `Delete` | RRset exists, value dependent (2.4.2: old RRs)     | delete RRset (2.5.2)              |
//!
//! RFC 2136 ignores the TTL when comparing RRsets for a prerequisite, so the provider checks
//! the old TTL by a read just before sending (see [`crate::provider`]).

use std::collections::BTreeMap;

use dnsfailback_provider::wire::managed_type;
use dnsfailback_provider::{Change, ChangeSet, Fqdn, RecordSet, RecordType};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType as HType};

/// Value <-> wire conversion is shared with the embedded server, so both read and write the
/// same text (one TXT form, one name form).
pub use dnsfailback_provider::wire::{rdata_value, to_name, to_rdata, to_wire_type as to_htype};

/// Groups answer records into record sets (one per name and type), skipping types the
/// controller does not manage. An RRset whose members disagree on TTL gets the smallest.
pub fn sets_from_records<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<RecordSet> {
    let mut groups: BTreeMap<(Fqdn, RecordType), (u32, Vec<String>)> = BTreeMap::new();
    for r in records {
        if r.dns_class != DNSClass::IN {
            continue;
        }
        let Some((rtype, value)) = rdata_value(&r.data) else {
            continue;
        };
        if managed_type(r.record_type()) != Some(rtype) {
            continue;
        }
        let Ok(name) = Fqdn::new(&r.name.to_ascii()) else {
            continue;
        };
        let entry = groups.entry((name, rtype)).or_insert((r.ttl, Vec::new()));
        entry.0 = entry.0.min(r.ttl);
        entry.1.push(value);
    }
    groups
        .into_iter()
        .filter_map(|((name, rtype), (ttl, values))| {
            RecordSet::new(name, rtype, ttl, values).normalized().ok()
        })
        .collect()
}

/// The wire records of one set, with `ttl` and `class` overridden when given.
pub fn records_of(set: &RecordSet, ttl: u32, class: DNSClass) -> Result<Vec<Record>, String> {
    let name = to_name(&set.name)?;
    set.values
        .iter()
        .map(|v| {
            let mut r = Record::from_rdata(name.clone(), ttl, to_rdata(set.rtype, v)?);
            r.dns_class = class;
            Ok(r)
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| format!("{}: {e}", set.key()))
}

fn empty_rr(set: &RecordSet, class: DNSClass) -> Result<Record, String> {
    let mut r = Record::update0(to_name(&set.name)?, 0, to_htype(set.rtype));
    r.dns_class = class;
    Ok(r)
}

fn new_message(op: OpCode) -> Message {
    let mut m = Message::query();
    m.metadata.message_type = MessageType::Query;
    m.metadata.op_code = op;
    m.metadata.recursion_desired = false;
    m
}

/// Builds the single UPDATE message for `changes` (see the module table). Refuses weighted
/// sets (plain RRsets cannot carry a set identifier) and names outside the zone, so a bad
/// plan never reaches the server.
pub fn build_update(changes: &ChangeSet) -> Result<Message, String> {
    let zone = to_name(&changes.zone)?;
    let mut m = new_message(OpCode::Update);
    let mut zq = Query::query(zone, HType::SOA);
    zq.set_query_class(DNSClass::IN);
    m.add_query(zq);
    for change in &changes.changes {
        let key = change.key();
        if key.set_id.is_some() {
            return Err(format!(
                "{key}: weighted record sets (set_id) cannot be expressed with RFC 2136; \
                 this provider declares `weighted = false`"
            ));
        }
        if !key.name.is_in_zone(&changes.zone) {
            return Err(format!("{key}: name is outside zone {}", changes.zone));
        }
        match change {
            Change::Create { new } => {
                m.add_answer(empty_rr(new, DNSClass::NONE)?);
                m.add_authorities(records_of(new, new.ttl, DNSClass::IN)?);
            }
            Change::Update { old, new } => {
                m.add_answers(records_of(old, 0, DNSClass::IN)?);
                m.add_authority(empty_rr(old, DNSClass::ANY)?);
                m.add_authorities(records_of(new, new.ttl, DNSClass::IN)?);
            }
            Change::Delete { old } => {
                m.add_answers(records_of(old, 0, DNSClass::IN)?);
                m.add_authority(empty_rr(old, DNSClass::ANY)?);
            }
        }
    }
    Ok(m)
}

/// A plain query (RD off: we ask authoritative servers only).
pub fn build_query(name: &Name, rtype: HType) -> Message {
    let mut m = new_message(OpCode::Query);
    m.add_query(Query::query(name.clone(), rtype));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RecordData;

    fn fq(s: &str) -> Fqdn {
        Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn a(name: &str, ttl: u32, ips: &[&str]) -> RecordSet {
        RecordSet::new(
            fq(name),
            RecordType::A,
            ttl,
            ips.iter().map(|s| s.to_string()).collect(),
        )
    }

    fn cs(changes: Vec<Change>) -> ChangeSet {
        ChangeSet {
            zone: fq("example.test"),
            changes,
        }
    }

    #[test]
    fn create_has_rrset_does_not_exist_prerequisite() -> Result<(), String> {
        let m = build_update(&cs(vec![Change::Create {
            new: a("www.example.test", 60, &["192.0.2.1"]),
        }]))?;
        assert_eq!(m.metadata.op_code, OpCode::Update);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].query_type(), HType::SOA);
        assert_eq!(m.queries[0].name().to_ascii(), "example.test.");
        assert_eq!(m.answers.len(), 1);
        let p = &m.answers[0];
        assert_eq!(
            (p.dns_class, p.ttl, p.record_type()),
            (DNSClass::NONE, 0, HType::A)
        );
        assert!(p.data.is_update());
        assert_eq!(m.authorities.len(), 1);
        let u = &m.authorities[0];
        assert_eq!((u.dns_class, u.ttl), (DNSClass::IN, 60));
        assert_eq!(
            rdata_value(&u.data),
            Some((RecordType::A, "192.0.2.1".into()))
        );
        Ok(())
    }

    #[test]
    fn update_has_value_dependent_prerequisite_then_replace() -> Result<(), String> {
        let old = a("www.example.test", 300, &["192.0.2.1", "192.0.2.2"]);
        let new = a("www.example.test", 30, &["198.51.100.2"]);
        let m = build_update(&cs(vec![Change::Update { old, new }]))?;
        // 2.4.2: the whole old RRset, class IN, TTL 0.
        assert_eq!(m.answers.len(), 2);
        for p in &m.answers {
            assert_eq!((p.dns_class, p.ttl), (DNSClass::IN, 0));
        }
        let olds: Vec<_> = m
            .answers
            .iter()
            .filter_map(|r| rdata_value(&r.data))
            .map(|v| v.1)
            .collect();
        assert_eq!(olds, vec!["192.0.2.1", "192.0.2.2"]);
        // 2.5.2 delete RRset, then 2.5.1 add.
        assert_eq!(m.authorities.len(), 2);
        let d = &m.authorities[0];
        assert_eq!(
            (d.dns_class, d.ttl, d.record_type()),
            (DNSClass::ANY, 0, HType::A)
        );
        assert!(d.data.is_update());
        let add = &m.authorities[1];
        assert_eq!((add.dns_class, add.ttl), (DNSClass::IN, 30));
        Ok(())
    }

    #[test]
    fn delete_has_prerequisite_and_rrset_delete() -> Result<(), String> {
        let m = build_update(&cs(vec![Change::Delete {
            old: a("x.example.test", 60, &["192.0.2.9"]),
        }]))?;
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].dns_class, DNSClass::IN);
        assert_eq!(m.authorities.len(), 1);
        assert_eq!(m.authorities[0].dns_class, DNSClass::ANY);
        Ok(())
    }

    #[test]
    fn message_round_trips_through_the_wire_format() -> Result<(), String> {
        let m = build_update(&cs(vec![
            Change::Create {
                new: a("a.example.test", 60, &["192.0.2.1"]),
            },
            Change::Delete {
                old: a("b.example.test", 60, &["192.0.2.2"]),
            },
        ]))?;
        let bytes = m.to_vec().map_err(|e| e.to_string())?;
        let back = Message::from_vec(&bytes).map_err(|e| e.to_string())?;
        assert_eq!(back.answers.len(), 2);
        assert_eq!(back.authorities.len(), 2);
        assert_eq!(back.answers[0].dns_class, DNSClass::NONE);
        Ok(())
    }

    #[test]
    fn weighted_and_out_of_zone_sets_are_refused() {
        let w = RecordSet::weighted(
            fq("w.example.test"),
            RecordType::A,
            60,
            vec!["192.0.2.1".into()],
            "p",
            5,
        );
        let e = build_update(&cs(vec![Change::Create { new: w }]))
            .err()
            .unwrap_or_default();
        assert!(e.contains("weighted"), "{e}");
        let e = build_update(&cs(vec![Change::Create {
            new: a("w.other.test", 60, &["192.0.2.1"]),
        }]))
        .err()
        .unwrap_or_default();
        assert!(e.contains("outside zone"), "{e}");
    }

    #[test]
    fn records_group_into_sets() -> Result<(), String> {
        let n = Name::from_ascii("www.example.test.").map_err(|e| e.to_string())?;
        let recs = vec![
            Record::from_rdata(n.clone(), 60, to_rdata(RecordType::A, "192.0.2.2")?),
            Record::from_rdata(n.clone(), 30, to_rdata(RecordType::A, "192.0.2.1")?),
            Record::from_rdata(
                n,
                60,
                hickory_proto::rr::RData::NS(hickory_proto::rr::rdata::NS(Name::root())),
            ),
        ];
        let sets = sets_from_records(&recs);
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].ttl, 30);
        assert_eq!(sets[0].values, vec!["192.0.2.1", "192.0.2.2"]);
        Ok(())
    }
}
