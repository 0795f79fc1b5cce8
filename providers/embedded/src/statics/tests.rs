//! Unit tests of `statics.rs`: parsing, the checks, and the sets an apply may not touch.

use super::*;
use dnsfailback_provider::{RecordSet, RecordType};

fn fq(s: &str) -> Result<Fqdn, String> {
    Fqdn::new(s)
}

fn rec(name: &str, t: &str, values: &[&str]) -> Result<StaticRecord, String> {
    Ok(StaticRecord {
        name: fq(name)?,
        rtype: t.into(),
        ttl: 3600,
        values: values.iter().map(|v| v.to_string()).collect(),
    })
}

fn build(
    records: &[StaticRecord],
    hosts: &[&Fqdn],
) -> Result<(StaticRecords, Vec<String>), String> {
    let served = [fq("example.test")?];
    let mut problems = Vec::new();
    let s = StaticRecords::build(records, &served, true, hosts, &mut problems);
    Ok((s, problems))
}

#[test]
fn a_small_zone_parses_and_is_served_by_name_and_type() -> Result<(), String> {
    let records = [
        rec(
            "example.test",
            "mx",
            &["10 mail.example.test.", "20 mail2.example.test."],
        )?,
        rec("example.test", "TXT", &["\"v=spf1 mx -all\""])?,
        rec("example.test", "CAA", &["0 issue \"letsencrypt.org\""])?,
        rec("mail.example.test", "A", &["192.0.2.25"])?,
        rec("www.example.test", "CNAME", &["example.net."])?,
        rec("_dmarc.mail.example.test", "TXT", &["\"v=DMARC1; p=none\""])?,
    ];
    let (s, problems) = build(&records, &[])?;
    assert!(problems.is_empty(), "{problems:?}");
    let apex = fq("example.test")?;
    assert_eq!(s.at(&apex, WireType::MX).len(), 2);
    assert_eq!(s.at(&apex, WireType::ANY).len(), 4);
    assert!(s.has(&apex, WireType::CAA) && !s.has(&apex, WireType::A));
    let (cname, target) = s.cname(&fq("www.example.test")?).ok_or("no CNAME")?;
    assert_eq!((cname.len(), target), (1, Some(fq("example.net")?)));
    assert!(s.holds_name(&fq("_dmarc.mail.example.test")?));
    assert!(!s.holds_name(&fq("nope.example.test")?));
    Ok(())
}

#[test]
fn bad_static_records_are_refused_with_their_key() -> Result<(), String> {
    let ns1 = fq("ns1.example.test")?;
    let records = [
        rec("example.test", "SOA", &["x"])?,
        rec("a.example.test", "A", &["not-an-ip"])?,
        rec(
            "b.example.test",
            "CNAME",
            &["x.example.net.", "y.example.net."],
        )?,
        rec("example.test", "CNAME", &["x.example.net."])?,
        rec("c.example.test", "CNAME", &["x.example.net."])?,
        rec("c.example.test", "TXT", &["\"t\""])?,
        rec("ns1.example.test", "A", &["192.0.2.1"])?,
        rec("outside.example.net", "TXT", &["\"t\""])?,
        rec("d.example.test", "TXT", &["\"1\""])?,
        rec("d.example.test", "TXT", &["\"2\""])?,
    ];
    let (_, problems) = build(&records, &[&ns1])?;
    let all = problems.join("\n");
    for want in [
        "records[0].type = \"SOA\"",
        "records[1].values[0]",
        "records[2].values: a CNAME record takes exactly one value",
        "records[3]: a CNAME cannot be at the zone apex",
        "records[5]: c.example.test. has a CNAME and other records",
        "records[6]: ns1.example.test. A is a name server's address",
        "records[7]: outside.example.net. is outside every served zone",
        "records[9]: d.example.test. TXT is already in records[8]",
    ] {
        assert!(all.contains(want), "{want} not in:\n{all}");
    }
    Ok(())
}

#[test]
fn applies_may_not_touch_static_records() -> Result<(), String> {
    let records = [
        rec("example.test", "MX", &["10 mail.example.test."])?,
        rec("www.example.test", "CNAME", &["example.net."])?,
    ];
    let (s, _) = build(&records, &[])?;
    let set = |n: &str, t: RecordType, v: &str| -> Result<Change, String> {
        Ok(Change::Create {
            new: RecordSet::new(fq(n)?, t, 60, vec![v.into()]),
        })
    };
    let changes = ChangeSet {
        zone: fq("example.test")?,
        changes: vec![
            set("example.test", RecordType::Mx, "5 other.example.test.")?,
            set("example.test", RecordType::A, "192.0.2.1")?,
            set("www.example.test", RecordType::A, "192.0.2.1")?,
        ],
    };
    let problems = s.conflicts(&changes);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("records[0]") && problems[1].contains("records[1]"));
    Ok(())
}
