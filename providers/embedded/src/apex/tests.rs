//! Unit tests of `apex.rs`: SOA fields, name servers, and the BIND-like checks.

use super::*;
use crate::config::NameServer;
use dnsfailback_provider::RecordSet;

fn fq(s: &str) -> Result<Fqdn, String> {
    Fqdn::new(s)
}

fn config(nameservers: Vec<NameServer>) -> Config {
    Config {
        nameservers,
        ..Config::default()
    }
}

fn ns(name: &str, addresses: &[&str]) -> Result<NameServer, String> {
    Ok(NameServer {
        name: fq(name)?,
        addresses: addresses
            .iter()
            .map(|a| a.parse().map_err(|e| format!("{a}: {e}")))
            .collect::<Result<_, String>>()?,
    })
}

fn build(c: &Config, served: &[Fqdn], complete: bool) -> Result<ZoneSettings, String> {
    ZoneSettings::build(c, served, complete).map_err(|p| p.join("; "))
}

fn soa_of(settings: &ZoneSettings, zone: &str) -> Result<SOA, String> {
    match settings.soa_record(&fq(zone)?, 7).map(|r| r.data) {
        Some(RData::SOA(soa)) => Ok(soa),
        other => Err(format!("no SOA: {other:?}")),
    }
}

#[test]
fn defaults_give_each_zone_a_reachable_ns1() -> Result<(), String> {
    let served = [fq("example.test")?, fq("example.org")?];
    let s = build(&Config::default(), &served, true)?;
    let soa = soa_of(&s, "example.org")?;
    assert_eq!(soa.mname.to_ascii(), "ns1.example.org.");
    assert_eq!(soa.rname.to_ascii(), "hostmaster.example.org.");
    assert_eq!(
        (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
        (7, 3600, 600, 1_209_600, 60)
    );
    let host = s.host_records(&fq("ns1.example.org")?, WireType::A);
    assert_eq!(host.map(|h| h.len()), Some(1));
    assert!(s.holds_name(&fq("example.org")?));
    Ok(())
}

#[test]
fn configured_soa_fields_and_name_servers_are_served() -> Result<(), String> {
    let mut c = config(vec![
        ns("ns1.example.test", &["192.0.2.53", "2001:db8::53"])?,
        ns("ns.provider.net", &[])?,
    ]);
    c.soa.rname = Some("dns.admin@example.test".into());
    c.soa.mname = Some(fq("primary.example.net")?);
    c.soa.refresh = 7200;
    c.ns_ttl = 86400;
    let served = [fq("example.test")?, fq("example.org")?];
    let s = build(&c, &served, true)?;
    let soa = soa_of(&s, "example.org")?;
    assert_eq!(soa.mname.to_ascii(), "primary.example.net.");
    assert_eq!(soa.rname.to_ascii(), "dns\\.admin.example.test.");
    assert_eq!(soa.refresh, 7200);
    let ns = s.ns_records(&fq("example.org")?);
    assert_eq!(ns.len(), 2);
    assert!(ns.iter().all(|r| r.ttl == 86400));
    assert_eq!(s.glue(&ns).len(), 2, "A and AAAA of the in-zone server");
    let aaaa = s.host_records(&fq("ns1.example.test")?, WireType::AAAA);
    assert_eq!(aaaa.map(|h| h.len()), Some(1));
    Ok(())
}

#[test]
fn an_in_zone_name_server_without_address_is_refused() -> Result<(), String> {
    let served = [fq("example.test")?];
    let e = build(&config(vec![ns("ns1.example.test", &[])?]), &served, true)
        .err()
        .unwrap_or_default();
    assert!(
        e.contains("nameservers[0]") && e.contains("add addresses"),
        "{e}"
    );
    let c = Config {
        listen: "0.0.0.0:53".parse().map_err(|e| format!("{e}"))?,
        ..Config::default()
    };
    let e = build(&c, &served, true).err().unwrap_or_default();
    assert!(
        e.contains("listen = \"0.0.0.0:53\"") && e.contains("[[nameservers]]"),
        "{e}"
    );
    Ok(())
}

#[test]
fn other_name_server_mistakes_are_refused() -> Result<(), String> {
    let served = [fq("example.test")?];
    let outside = config(vec![ns("ns1.example.net", &["192.0.2.1"])?]);
    let e = build(&outside, &served, true).err().unwrap_or_default();
    assert!(e.contains("outside every served zone"), "{e}");
    assert!(
        build(&outside, &served, false).is_ok(),
        "the zone list is not complete when the settings are parsed"
    );
    let twice = config(vec![
        ns("ns1.example.net", &[])?,
        ns("ns1.example.net", &[])?,
    ]);
    let e = build(&twice, &served, true).err().unwrap_or_default();
    assert!(e.contains("listed twice"), "{e}");
    let zero = config(vec![ns("ns1.example.test", &["0.0.0.0"])?]);
    assert!(build(&zero, &served, true).is_err());
    Ok(())
}

#[test]
fn soa_timers_and_rname_are_checked() -> Result<(), String> {
    let mut c = Config::default();
    c.soa.expire = 100;
    c.soa.retry = 0;
    c.soa.rname = Some("@example.test".into());
    let e = check_static(&c).err().unwrap_or_default();
    assert!(e.contains("soa.retry = 0"), "{e}");
    assert!(e.contains("soa.expire = 100"), "{e}");
    assert!(e.contains("soa.rname"), "{e}");
    Ok(())
}

#[test]
fn record_sets_at_a_name_server_are_refused() -> Result<(), String> {
    let s = build(&Config::default(), &[fq("example.test")?], true)?;
    let a = RecordSet::new(
        fq("ns1.example.test")?,
        RecordType::A,
        60,
        vec!["192.0.2.9".into()],
    );
    let txt = RecordSet::new(
        fq("ns1.example.test")?,
        RecordType::Txt,
        60,
        vec!["\"x\"".into()],
    );
    let changes = ChangeSet {
        zone: fq("example.test")?,
        changes: vec![Change::Create { new: a }, Change::Create { new: txt }],
    };
    let problems = s.conflicts(&changes);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("nameservers"), "{problems:?}");
    Ok(())
}
