//! Unit tests of `lookup.rs`: answers straight from a store, no sockets.

use super::*;
use dnsfailback_provider::RecordSet;
use hickory_proto::rr::RData;

use crate::config::Config;

fn fq(s: &str) -> Result<Fqdn, String> {
    Fqdn::new(s)
}

fn set(n: &str, t: RecordType, v: &[&str]) -> Result<RecordSet, String> {
    Ok(RecordSet::new(
        fq(n)?,
        t,
        60,
        v.iter().map(|s| s.to_string()).collect(),
    ))
}

/// `example.test` and `other.test`, with A, CNAME chains in and out of the zones.
fn store() -> Result<(Store, Vec<Fqdn>), String> {
    let mut z = ZoneState::default();
    for s in [
        set("a.b.example.test", RecordType::A, &["192.0.2.1"])?,
        set(
            "alias.example.test",
            RecordType::Cname,
            &["a.b.example.test."],
        )?,
        set(
            "to-nodata.example.test",
            RecordType::Cname,
            &["a.b.example.test."],
        )?,
        set(
            "to-missing.example.test",
            RecordType::Cname,
            &["gone.example.test."],
        )?,
        set(
            "to-other.example.test",
            RecordType::Cname,
            &["www.other.test."],
        )?,
        set(
            "to-outside.example.test",
            RecordType::Cname,
            &["www.example.net."],
        )?,
        set(
            "loop1.example.test",
            RecordType::Cname,
            &["loop2.example.test."],
        )?,
        set(
            "loop2.example.test",
            RecordType::Cname,
            &["loop1.example.test."],
        )?,
        set(
            "rr.example.test",
            RecordType::A,
            &["192.0.2.1", "192.0.2.2", "192.0.2.3"],
        )?,
    ] {
        z.records.put(s);
    }
    let mut other = ZoneState::default();
    other
        .records
        .put(set("www.other.test", RecordType::A, &["198.51.100.7"])?);
    let served = vec![fq("example.test")?, fq("other.test")?];
    let mut s = Store::default();
    s.zones.insert(served[0].clone(), std::sync::Arc::new(z));
    s.zones
        .insert(served[1].clone(), std::sync::Arc::new(other));
    Ok((s, served))
}

fn settings(served: &[Fqdn]) -> Result<ZoneSettings, String> {
    ZoneSettings::build(&Config::default(), served, true).map_err(|p| p.join("; "))
}

fn ask(store: &Store, served: &[Fqdn], q: &str, t: WireType) -> Result<Resolution, String> {
    let zones = settings(served)?;
    let params = Params {
        served,
        zones: &zones,
    };
    Ok(resolve(
        store,
        params,
        &name(q)?,
        t,
        &mut WeightRng::seeded(1),
    ))
}

fn types(records: &[Record]) -> Vec<WireType> {
    records.iter().map(|r| r.record_type()).collect()
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
    let r = ask(&s, &served, "www.example.org.", WireType::A)?;
    assert_eq!((r.rcode, r.authoritative), (ResponseCode::Refused, false));
    Ok(())
}

#[test]
fn apex_has_soa_and_ns_and_cnames_are_followed() -> Result<(), String> {
    let (s, served) = store()?;
    let r = ask(&s, &served, "example.test.", WireType::SOA)?;
    assert_eq!(types(&r.answers), vec![WireType::SOA]);
    let r = ask(&s, &served, "alias.example.test.", WireType::A)?;
    assert_eq!(types(&r.answers), vec![WireType::CNAME, WireType::A]);
    assert!(r.authorities.is_empty());
    let r = ask(&s, &served, "alias.example.test.", WireType::CNAME)?;
    assert_eq!(types(&r.answers), vec![WireType::CNAME]);
    Ok(())
}

#[test]
fn cname_to_a_name_without_the_type_carries_the_soa() -> Result<(), String> {
    let (s, served) = store()?;
    // RFC 2308 2.2: NODATA at the end of the chain, SOA in authority.
    let r = ask(&s, &served, "to-nodata.example.test.", WireType::AAAA)?;
    assert_eq!(r.rcode, ResponseCode::NoError);
    assert_eq!(types(&r.answers), vec![WireType::CNAME]);
    assert_eq!(types(&r.authorities), vec![WireType::SOA]);
    // RFC 2308 2.1 / RFC 6604: a target that does not exist is NXDOMAIN, CNAME kept.
    let r = ask(&s, &served, "to-missing.example.test.", WireType::A)?;
    assert_eq!(r.rcode, ResponseCode::NXDomain);
    assert_eq!(types(&r.answers), vec![WireType::CNAME]);
    assert_eq!(types(&r.authorities), vec![WireType::SOA]);
    Ok(())
}

#[test]
fn cname_chains_leaving_the_zone_follow_rfc_1034() -> Result<(), String> {
    let (s, served) = store()?;
    // Into another served zone: followed there.
    let r = ask(&s, &served, "to-other.example.test.", WireType::A)?;
    assert_eq!(types(&r.answers), vec![WireType::CNAME, WireType::A]);
    // A missing type there: NODATA with *that* zone's SOA.
    let r = ask(&s, &served, "to-other.example.test.", WireType::MX)?;
    assert_eq!(types(&r.authorities), vec![WireType::SOA]);
    assert_eq!(
        r.authorities.first().map(|a| a.name.to_ascii()),
        Some("other.test.".to_string())
    );
    // Outside every served zone: the CNAME alone, no SOA; the resolver chases it.
    let r = ask(&s, &served, "to-outside.example.test.", WireType::A)?;
    assert_eq!(
        (r.rcode, types(&r.answers)),
        (ResponseCode::NoError, vec![WireType::CNAME])
    );
    assert!(r.authorities.is_empty());
    // A loop ends after each name once.
    let r = ask(&s, &served, "loop1.example.test.", WireType::A)?;
    assert_eq!(types(&r.answers), vec![WireType::CNAME, WireType::CNAME]);
    Ok(())
}

#[test]
fn the_default_name_server_has_an_address_and_glue() -> Result<(), String> {
    let (s, served) = store()?;
    let r = ask(&s, &served, "example.test.", WireType::NS)?;
    assert_eq!(types(&r.answers), vec![WireType::NS]);
    assert_eq!(types(&r.additionals), vec![WireType::A]);
    let r = ask(&s, &served, "ns1.example.test.", WireType::A)?;
    match r.answers.first().map(|a| &a.data) {
        Some(RData::A(a)) => assert_eq!(a.0.to_string(), "127.0.0.1"),
        other => return Err(format!("no address for ns1: {other:?}")),
    }
    let r = ask(&s, &served, "ns1.example.test.", WireType::AAAA)?;
    assert_eq!((r.rcode, r.answers.len()), (ResponseCode::NoError, 0));
    Ok(())
}

#[test]
fn round_robin_sets_are_rotated() -> Result<(), String> {
    let (s, served) = store()?;
    let zones = settings(&served)?;
    let params = Params {
        served: &served,
        zones: &zones,
    };
    let mut rng = WeightRng::seeded(3);
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let r = resolve(
            &s,
            params,
            &name("rr.example.test.")?,
            WireType::A,
            &mut rng,
        );
        assert_eq!(r.answers.len(), 3);
        firsts.insert(format!("{:?}", r.answers[0].data));
    }
    assert_eq!(firsts.len(), 3, "{firsts:?}");
    Ok(())
}
