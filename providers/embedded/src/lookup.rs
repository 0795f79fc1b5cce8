//! How one question is answered: zone selection, positive answers, CNAME chasing, NXDOMAIN
//! versus NODATA and REFUSED, with no networking, so it is unit-tested directly.
//!
//! Sits at the serving end of the provider step (plan -> **provider** -> **verify**): what this
//! module returns is what `dig`, resolvers and the controller's verifier see after an apply.

use dnsfailback_provider::{Fqdn, RecordSet, RecordType};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType as WireType};

use crate::rdata::{managed_type, name, set_to_records};
use crate::state::{zone_for, Store, ZoneState};
use crate::weighted::{choose, WeightRng};

/// TTL of the synthetic apex NS record.
const NS_TTL: u32 = 3600;
/// Longest CNAME chain followed inside a zone, so a loop cannot hang a query.
const MAX_CNAME_CHAIN: usize = 8;

/// The answer to one question, before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// NOERROR, NXDOMAIN or REFUSED.
    pub rcode: ResponseCode,
    /// True when the name is in one of our zones (the AA bit).
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section: the zone's SOA on NXDOMAIN and NODATA.
    pub authorities: Vec<Record>,
}

impl Resolution {
    fn refused() -> Self {
        Resolution {
            rcode: ResponseCode::Refused,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
        }
    }
}

/// What the resolver needs besides the zone content.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// Zones served, apex names.
    pub served: &'a [Fqdn],
    /// SOA minimum and TTL of negative answers.
    pub negative_ttl: u32,
}

/// Answers `qname`/`qtype` from `store`.
pub fn resolve(
    store: &Store,
    params: Params<'_>,
    qname: &Name,
    qtype: WireType,
    rng: &mut WeightRng,
) -> Resolution {
    let text = qname.to_ascii().to_ascii_lowercase();
    // A name `Fqdn` rejects (odd characters) can still be inside a zone: find the zone with
    // hickory's own comparison, then answer NXDOMAIN since no such name can be stored.
    let zone = params
        .served
        .iter()
        .filter(|z| name(z.as_str()).is_ok_and(|zn| zn.zone_of(qname)))
        .max_by_key(|z| z.as_str().len());
    let Some(zone) = zone else {
        return Resolution::refused();
    };
    let empty = ZoneState::default();
    let state = store.zones.get(zone).map_or(&empty, |z| &**z);
    let soa = soa_record(zone, state.serial, params.negative_ttl);
    let mut res = Resolution {
        rcode: ResponseCode::NoError,
        authoritative: true,
        answers: Vec::new(),
        authorities: Vec::new(),
    };
    let Ok(fqdn) = Fqdn::new(&text) else {
        res.rcode = ResponseCode::NXDomain;
        res.authorities.extend(soa);
        return res;
    };
    let apex = &fqdn == zone;
    match qtype {
        WireType::SOA if apex => res.answers.extend(soa.clone()),
        WireType::NS if apex => res.answers.extend(ns_record(zone)),
        WireType::ANY => {
            if apex {
                res.answers.extend(soa.clone());
                res.answers.extend(ns_record(zone));
            }
            for t in RecordType::ALL {
                res.answers.extend(answer_sets(state, &fqdn, t, rng));
            }
        }
        other => {
            if let Some(t) = managed_type(other) {
                answer_with_cnames(state, params.served, zone, &fqdn, t, rng, &mut res.answers);
            }
        }
    }
    if res.answers.is_empty() {
        if !name_exists(state, zone, &fqdn) {
            res.rcode = ResponseCode::NXDomain;
        }
        res.authorities.extend(soa);
    }
    res
}

/// Records for `t` at `name`, or the CNAME there followed through this zone.
fn answer_with_cnames(
    state: &ZoneState,
    served: &[Fqdn],
    zone: &Fqdn,
    start: &Fqdn,
    t: RecordType,
    rng: &mut WeightRng,
    out: &mut Vec<Record>,
) {
    let mut current = start.clone();
    for _ in 0..MAX_CNAME_CHAIN {
        let direct = answer_sets(state, &current, t, rng);
        if !direct.is_empty() || t == RecordType::Cname {
            out.extend(direct);
            return;
        }
        let cname_sets = state.records.get(&current, RecordType::Cname);
        let chosen: Vec<&RecordSet> = choose(&cname_sets, rng);
        let Some(cname) = chosen.first() else {
            return;
        };
        out.extend(set_to_records(cname));
        // Follow only a target in this same zone; anything else is for the resolver to chase.
        let target = cname.values.first().and_then(|v| Fqdn::new(v).ok());
        match target {
            Some(next) if zone_for(served, &next) == Some(zone) => current = next,
            _ => return,
        }
    }
}

fn answer_sets(state: &ZoneState, name: &Fqdn, t: RecordType, rng: &mut WeightRng) -> Vec<Record> {
    let sets = state.records.get(name, t);
    choose(&sets, rng)
        .into_iter()
        .flat_map(set_to_records)
        .collect()
}

/// True for the apex, a name with records, or an empty non-terminal (a name with records
/// only below it), which answer NODATA rather than NXDOMAIN (RFC 8020).
fn name_exists(state: &ZoneState, zone: &Fqdn, name: &Fqdn) -> bool {
    name == zone || state.records.has_name(name)
}

/// The synthetic SOA of `zone`; its TTL is the negative TTL, so negative answers are cached
/// for exactly that long (RFC 2308 takes the smaller of the two).
pub fn soa_record(zone: &Fqdn, serial: u32, negative_ttl: u32) -> Option<Record> {
    let apex = name(zone.as_str()).ok()?;
    let mname = apex.prepend_label("ns1").ok()?;
    let rname = apex.prepend_label("hostmaster").ok()?;
    let soa = SOA::new(mname, rname, serial, 3600, 600, 86400, negative_ttl);
    Some(Record::from_rdata(apex, negative_ttl, RData::SOA(soa)))
}

fn ns_record(zone: &Fqdn) -> Option<Record> {
    let apex = name(zone.as_str()).ok()?;
    let ns = apex.prepend_label("ns1").ok()?;
    Some(Record::from_rdata(apex, NS_TTL, RData::NS(NS(ns))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::RecordSet;

    fn fq(s: &str) -> Result<Fqdn, String> {
        Fqdn::new(s)
    }

    fn store() -> Result<(Store, Vec<Fqdn>), String> {
        let zone = fq("example.test")?;
        let mut z = ZoneState::default();
        z.records.put(RecordSet::new(
            fq("a.b.example.test")?,
            RecordType::A,
            60,
            vec!["192.0.2.1".into()],
        ));
        z.records.put(RecordSet::new(
            fq("alias.example.test")?,
            RecordType::Cname,
            60,
            vec!["a.b.example.test.".into()],
        ));
        let mut s = Store::default();
        s.zones.insert(zone.clone(), std::sync::Arc::new(z));
        Ok((s, vec![zone]))
    }

    fn ask(store: &Store, served: &[Fqdn], q: &str, t: WireType) -> Result<Resolution, String> {
        let params = Params {
            served,
            negative_ttl: 60,
        };
        Ok(resolve(
            store,
            params,
            &name(q)?,
            t,
            &mut WeightRng::seeded(1),
        ))
    }

    #[test]
    fn answers_nodata_nxdomain_and_refused() -> Result<(), String> {
        let (s, served) = store()?;
        let r = ask(&s, &served, "A.B.Example.Test.", WireType::A)?;
        assert_eq!(
            (r.rcode, r.answers.len(), r.authoritative),
            (ResponseCode::NoError, 1, true)
        );
        let r = ask(&s, &served, "a.b.example.test.", WireType::AAAA)?;
        assert_eq!(
            (r.rcode, r.answers.len(), r.authorities.len()),
            (ResponseCode::NoError, 0, 1)
        );
        let r = ask(&s, &served, "b.example.test.", WireType::A)?;
        assert_eq!(
            r.rcode,
            ResponseCode::NoError,
            "empty non-terminal is NODATA"
        );
        let r = ask(&s, &served, "nope.example.test.", WireType::A)?;
        assert_eq!((r.rcode, r.authorities.len()), (ResponseCode::NXDomain, 1));
        let r = ask(&s, &served, "www.other.test.", WireType::A)?;
        assert_eq!((r.rcode, r.authoritative), (ResponseCode::Refused, false));
        Ok(())
    }

    #[test]
    fn apex_has_soa_and_ns_and_cnames_are_followed() -> Result<(), String> {
        let (s, served) = store()?;
        assert_eq!(
            ask(&s, &served, "example.test.", WireType::SOA)?
                .answers
                .len(),
            1
        );
        assert_eq!(
            ask(&s, &served, "example.test.", WireType::NS)?
                .answers
                .len(),
            1
        );
        let r = ask(&s, &served, "alias.example.test.", WireType::A)?;
        let types: Vec<WireType> = r.answers.iter().map(|r| r.record_type()).collect();
        assert_eq!(types, vec![WireType::CNAME, WireType::A]);
        let r = ask(&s, &served, "alias.example.test.", WireType::CNAME)?;
        assert_eq!(r.answers.len(), 1);
        Ok(())
    }
}
