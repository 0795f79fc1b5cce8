//! The zone as a resolver and BIND see it: name servers that resolve (glue and A/AAAA for
//! in-zone NS names), configurable SOA fields, configuration a BIND operator would have
//! refused, and round-robin sets whose order changes per reply. Replies are read as raw bytes
//! by hickory's strict parse and by dnspython.

mod support;

use dnsfailback_provider::{Change, ErrorKind};
use dnsfailback_provider_embedded::{CheckedConfig, EmbeddedProvider, NameServer};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use support::wire::{dnspython_one, parse_strict, query, rows, udp};
use support::{a_set, apply, config, fq, started, TestResult};

fn ns(name: &str, addresses: &[&str]) -> NameServer {
    NameServer {
        name: fq(name),
        addresses: addresses
            .iter()
            .map(|a| a.parse().unwrap_or_else(|e| panic!("{a}: {e}")))
            .collect(),
    }
}

#[tokio::test]
async fn the_default_name_server_resolves_to_the_listen_address() -> TestResult {
    let (p, addr) = started(config(&["example.test"])).await?;
    let reply = udp(addr, &query("example.test.", RecordType::NS, None)?).await?;
    let m = parse_strict(&reply)?;
    assert_eq!(m.answers.len(), 1);
    let py = dnspython_one(&reply)?;
    assert_eq!(rows(&py, "answer"), vec!["NS ns1.example.test."]);
    assert_eq!(rows(&py, "additional"), vec!["A 127.0.0.1"], "glue");
    let reply = udp(addr, &query("ns1.example.test.", RecordType::A, None)?).await?;
    let py = dnspython_one(&reply)?;
    assert_eq!(
        (py["rcode"].as_str(), py["aa"].as_bool()),
        (Some("NOERROR"), Some(true))
    );
    assert_eq!(rows(&py, "answer"), vec!["A 127.0.0.1"]);
    p.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn configured_name_servers_and_soa_fields_are_served() -> TestResult {
    let mut cfg = config(&["example.test"]);
    cfg.nameservers = vec![
        ns("ns1.example.test", &["192.0.2.53", "2001:db8::53"]),
        ns("ns2.provider.net", &[]),
    ];
    cfg.soa.mname = Some(fq("ns1.example.test"));
    cfg.soa.rname = Some("dns-admin@example.test".into());
    cfg.soa.refresh = 7200;
    cfg.soa.retry = 900;
    cfg.soa.expire = 2_419_200;
    cfg.negative_ttl = 120;
    cfg.ns_ttl = 86400;
    let (p, addr) = started(cfg).await?;
    let reply = udp(addr, &query("example.test.", RecordType::NS, None)?).await?;
    let py = dnspython_one(&reply)?;
    assert_eq!(
        rows(&py, "answer"),
        vec!["NS ns1.example.test.", "NS ns2.provider.net."]
    );
    assert_eq!(
        rows(&py, "additional"),
        vec!["A 192.0.2.53", "AAAA 2001:db8::53"]
    );
    let reply = udp(addr, &query("example.test.", RecordType::SOA, None)?).await?;
    let m = parse_strict(&reply)?;
    match m.answers.first().map(|r| &r.data) {
        Some(RData::SOA(soa)) => {
            assert_eq!(soa.mname.to_ascii(), "ns1.example.test.");
            assert_eq!(soa.rname.to_ascii(), "dns-admin.example.test.");
            let timers = (soa.refresh, soa.retry, soa.expire, soa.minimum);
            assert_eq!(timers, (7200, 900, 2_419_200, 120));
        }
        other => return Err(format!("no SOA answer: {other:?}").into()),
    }
    let reply = udp(addr, &query("ns1.example.test.", RecordType::AAAA, None)?).await?;
    assert_eq!(
        rows(&dnspython_one(&reply)?, "answer"),
        vec!["AAAA 2001:db8::53"]
    );
    // Record sets may not shadow the configured addresses.
    let e = apply(
        &p,
        "example.test",
        vec![Change::Create {
            new: a_set("ns1.example.test", 60, &["192.0.2.99"]),
        }],
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(
        e.contains("name server") && e.contains("nameservers"),
        "{e}"
    );
    p.shutdown().await;
    Ok(())
}

#[test]
fn a_zone_bind_would_refuse_is_refused_with_the_key_and_the_fix() {
    // An in-zone name server without an address: found when the zones are known.
    let mut cfg = config(&["example.test"]);
    cfg.nameservers = vec![ns("ns1.example.test", &[])];
    let e = EmbeddedProvider::new("local", cfg).err();
    let kind = e.as_ref().map(|e| e.kind);
    let text = e.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(kind, Some(ErrorKind::Invalid));
    assert!(
        text.contains("providers.local.nameservers[0]")
            && text.contains("add addresses")
            && text.contains("docs/providers/embedded.md"),
        "{text}"
    );
    // An unspecified listen address and no name servers: found when the table is read, as
    // `dnsfailback validate` reads it.
    let e = toml::from_str::<CheckedConfig>("listen = \"0.0.0.0:53\"")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("listen = \"0.0.0.0:53\"") && e.contains("[[nameservers]]"),
        "{e}"
    );
    let ok = toml::from_str::<CheckedConfig>(
        "listen = \"0.0.0.0:53\"\n[[nameservers]]\nname = \"ns1.example.test\"\naddresses = [\"192.0.2.53\"]\n",
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn every_address_of_a_round_robin_set_comes_first() -> TestResult {
    let mut cfg = config(&["example.test"]);
    cfg.rng_seed = Some(11);
    let (p, addr) = started(cfg).await?;
    let ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"];
    apply(
        &p,
        "example.test",
        vec![Change::Create {
            new: a_set("www.example.test", 60, &ips),
        }],
    )
    .await?;
    let mut firsts = std::collections::BTreeMap::new();
    for _ in 0..20 {
        let reply = udp(addr, &query("www.example.test.", RecordType::A, None)?).await?;
        let m = parse_strict(&reply)?;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        let mut all: Vec<String> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0.to_string()),
                _ => None,
            })
            .collect();
        let first = all.first().cloned().unwrap_or_default();
        *firsts.entry(first).or_insert(0) += 1;
        all.sort();
        assert_eq!(all, ips, "every reply holds the whole set");
    }
    println!("first address over 20 queries: {firsts:?}");
    for ip in ips {
        assert!(firsts.contains_key(ip), "{ip} never first: {firsts:?}");
    }
    p.shutdown().await;
    Ok(())
}
