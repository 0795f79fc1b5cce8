//! RFC 2136 adapter against a real PowerDNS Authoritative server (gsqlite3 backend): a primary
//! plus a PowerDNS secondary (NOTIFY + AXFR) on 127.0.0.1, started by these tests (see
//! `harness/powerdns.rs`), with TSIG (hmac-sha256 and hmac-sha512).
//!
//! Answers are checked with real UDP queries through hickory-net's client, independent of the
//! adapter's own TCP transport.
//!
//! Where PowerDNS differs from BIND/Knot (each asserted below):
//! - an UPDATE signed with a key it cannot verify (wrong secret, unknown name, wrong
//!   algorithm) is answered REFUSED with **no TSIG record at all** (BIND/Knot: NOTAUTH with
//!   an unsigned TSIG carrying BADSIG/BADKEY); queries with such a key get NOTAUTH, unsigned;
//! - a valid key missing from `TSIG-ALLOW-DNSUPDATE` gets a signed REFUSED (like BIND);
//! - the serial is bumped per `SOA-EDIT-DNSUPDATE` (the harness sets INCREASE: + 1 each);
//! - the secondary follows only with `NOTIFY-DNSUPDATE=1` (+ `ALSO-NOTIFY` here), after
//!   about 1-2 s (the communicator's notification queue).

mod harness;

use std::sync::{Arc, Mutex};

use dnsfailback_provider::testkit::run_conformance;
use dnsfailback_provider::{Change, ChangeSet, ErrorKind, Fqdn, Provider, RecordSet, RecordType};
use dnsfailback_provider_rfc2136::{Config, Rfc2136Provider, KEY_REJECTED};
use harness::powerdns::PdnsPeer;
use harness::{dig, serial, KEY, KEY512, ZONE};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType as HType;

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
        zone: fq(ZONE),
        changes,
    }
}

/// The config a user would write, parsed through TOML as the controller does.
fn config(peer: &PdnsPeer, key: &str, alg: &str, secret_file: &std::path::Path) -> Config {
    let text = format!(
        "server = \"{}\"\nkey_name = \"{key}\"\nalgorithm = \"{alg}\"\nsecret = {{ file = \"{}\" }}\n\
         timeout = \"2s\"\nretries = 1\npropagation_servers = [\"{}\"]\npropagation_timeout = \"30s\"\n",
        peer.primary,
        secret_file.display(),
        peer.secondary
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("config: {e}\n{text}"))
}

fn provider(peer: &PdnsPeer) -> Rfc2136Provider {
    Rfc2136Provider::new("ns", config(peer, KEY, "hmac-sha256", &peer.secret_file))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn served(peer: &PdnsPeer, name: &str) -> Vec<Option<(u32, Vec<String>)>> {
    let mut out = Vec::new();
    for s in [peer.primary, peer.secondary] {
        out.push(
            dig(s, name, HType::A)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    out
}

#[tokio::test]
async fn conformance() {
    let peer = PdnsPeer::start().await;
    let p = provider(&peer);
    let report = run_conformance(&p, &fq(ZONE), "conf")
        .await
        .unwrap_or_else(|e| panic!("PowerDNS: {e}\nlogs:\n{}", peer.logs()));
    assert_eq!(report.passed.len(), 8, "{report:?}");
    assert_eq!(
        report.skipped,
        vec![("weighted", "capabilities().weighted is false")]
    );
}

/// Failover (swap the records of www and lower the TTL), failback, then a TTL-only change,
/// each checked on primary and secondary by real UDP queries after the propagation wait;
/// the serial goes up by exactly one per UPDATE (SOA-EDIT-DNSUPDATE=INCREASE).
#[tokio::test]
async fn failover_failback_ttl_only() {
    let peer = PdnsPeer::start().await;
    let p = provider(&peer);
    let www = "www.example.test.";
    let normal = a(www, 300, &["192.0.2.1"]);
    let failed_over = a(www, 30, &["198.51.100.2", "198.51.100.3"]);
    let ttl_only = a(www, 60, &["192.0.2.1"]);
    assert_eq!(
        p.read(&fq(ZONE), &fq(www), RecordType::A)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        vec![normal.clone()]
    );
    let serial0 = serial(peer.primary).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(serial0, 1, "seed zone serial");

    for (i, (step, old, new)) in [
        ("failover", &normal, &failed_over),
        ("failback", &failed_over, &normal),
        ("ttl-only", &normal, &ttl_only),
    ]
    .into_iter()
    .enumerate()
    {
        let receipt = p
            .apply(&cs(vec![Change::Update {
                old: old.clone(),
                new: new.clone(),
            }]))
            .await
            .unwrap_or_else(|e| panic!("PowerDNS {step}: {e}\nlogs:\n{}", peer.logs()));
        let report = p
            .wait_propagation(&receipt)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            report.in_sync,
            "PowerDNS {step}: {report:?}\nlogs:\n{}",
            peer.logs()
        );
        assert_eq!(report.servers.len(), 2, "{report:?}");
        assert_eq!(report.serial, serial0 + 1 + i as u32, "{step}: {report:?}");
        eprintln!(
            "PROPAGATION PowerDNS {step}: serial {} primary {:?} secondary {:?} total {:?}",
            report.serial, report.servers[0].elapsed, report.servers[1].elapsed, report.total
        );
        let want = Some((new.ttl, new.values.clone()));
        assert_eq!(
            served(&peer, www).await,
            vec![want.clone(), want],
            "PowerDNS {step}"
        );
        assert_eq!(
            p.sync_status(&receipt)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            dnsfailback_provider::SyncStatus::InSync
        );
    }
    for s in [peer.primary, peer.secondary] {
        assert_eq!(
            serial(s).await.unwrap_or_else(|e| panic!("{e}")),
            serial0 + 3,
            "{s}: serial after three updates"
        );
    }
}

/// Someone else (nsupdate) changes the set between our read and our apply: PowerDNS's
/// prerequisite check fails the UPDATE cleanly (NXRRSET), nothing is overwritten, and a
/// re-read + re-plan succeeds. Same scenario as for BIND/Knot in peers.rs.
#[tokio::test]
async fn concurrent_change() {
    let peer = PdnsPeer::start().await;
    let p = provider(&peer);
    let name = "api.example.test.";
    let ours = a(name, 60, &["192.0.2.10"]);
    p.apply(&cs(vec![Change::Create { new: ours.clone() }]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Creating again: RRset-does-not-exist prerequisite (YXRRSET).
    let e = p
        .apply(&cs(vec![Change::Create {
            new: a(name, 60, &["192.0.2.99"]),
        }]))
        .await
        .err()
        .unwrap_or_else(|| panic!("create of existing set succeeded"));
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert!(
        e.to_string().contains(&ResponseCode::YXRRSet.to_string()),
        "{e}"
    );
    assert!(e.to_string().starts_with("ns: "), "{e}");

    // External value change.
    peer.nsupdate(&format!(
        "update delete {name} A\nupdate add {name} 60 A 192.0.2.11"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let target = a(name, 60, &["198.51.100.10"]);
    let e = p
        .apply(&cs(vec![Change::Update {
            old: ours.clone(),
            new: target.clone(),
        }]))
        .await
        .err()
        .unwrap_or_else(|| panic!("PowerDNS: stale update overwrote an external change"));
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert!(e.to_string().contains("prerequisite failed"), "{e}");
    assert!(
        e.to_string().contains(&ResponseCode::NXRRSet.to_string()),
        "{e}"
    );
    assert_eq!(
        dig(peer.primary, name, HType::A)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        Some((60, vec!["192.0.2.11".into()]))
    );

    // Re-read, re-plan, apply.
    let current = p
        .read(&fq(ZONE), &fq(name), RecordType::A)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(current, vec![a(name, 60, &["192.0.2.11"])]);
    p.apply(&cs(vec![Change::Update {
        old: current[0].clone(),
        new: target.clone(),
    }]))
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        dig(peer.primary, name, HType::A)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        Some((60, vec!["198.51.100.10".into()]))
    );

    // External TTL-only change (PowerDNS, like the RFC, ignores TTLs in prerequisites):
    // caught by the adapter's TTL guard.
    peer.nsupdate(&format!(
        "update delete {name} A\nupdate add {name} 120 A 198.51.100.10"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let e = p
        .apply(&cs(vec![Change::Delete {
            old: target.clone(),
        }]))
        .await
        .err()
        .unwrap_or_else(|| panic!("PowerDNS: TTL change not detected"));
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert_eq!(
        dig(peer.primary, name, HType::A)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        Some((120, vec!["198.51.100.10".into()]))
    );

    // Atomic: one good and one stale change in one set: neither applies.
    let e = p
        .apply(&cs(vec![
            Change::Create {
                new: a("new.example.test.", 60, &["192.0.2.50"]),
            },
            Change::Delete { old: target },
        ]))
        .await
        .err();
    assert!(e.is_some_and(|e| e.is_conflict()));
    assert_eq!(
        dig(peer.primary, "new.example.test.", HType::A)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        None
    );
}

/// A subscriber that keeps every formatted event, to prove the secret is never logged.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Visit<'a>(&'a mut String);
impl tracing::field::Visit for Visit<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        event.record(&mut Visit(&mut g));
        g.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Wrong secret, unknown key name, wrong algorithm: PowerDNS answers the UPDATE REFUSED
/// without any TSIG record, which the adapter reports as a rejected key; a valid key that is
/// not in TSIG-ALLOW-DNSUPDATE gets a signed REFUSED ("not allowed"); an unsigned update is
/// REFUSED too. None is retried, the zone is unchanged, and no secret is in any output or log.
#[tokio::test]
async fn wrong_key() {
    let peer = PdnsPeer::start().await;
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let wrong_file = peer.dir.join("wrong.secret");
    let wrong = "d3Jvbmctc2VjcmV0LWZvci10ZXN0cy0wMDAwMDAwMDA=";
    std::fs::write(&wrong_file, wrong).unwrap_or_else(|e| panic!("{e}"));
    let change = cs(vec![Change::Create {
        new: a("evil.example.test.", 60, &["203.0.113.66"]),
    }]);
    let mut outputs = Vec::new();

    let cases = [
        (
            "wrong secret",
            config(&peer, KEY, "hmac-sha256", &wrong_file),
        ),
        (
            "unknown key name",
            config(&peer, "no-such-key", "hmac-sha256", &peer.secret_file),
        ),
        (
            "wrong algorithm",
            config(&peer, KEY, "hmac-sha512", &peer.secret_file),
        ),
        (
            "key without rights",
            config(&peer, "other-key", "hmac-sha256", &peer.other_file),
        ),
    ];
    for (case, cfg) in cases {
        let p = Rfc2136Provider::new("ns", cfg).unwrap_or_else(|e| panic!("{e}"));
        outputs.push(format!("{p:?}"));
        let started = std::time::Instant::now();
        let e = p
            .apply(&change)
            .await
            .err()
            .unwrap_or_else(|| panic!("PowerDNS {case}: update accepted"));
        assert_eq!(e.kind, ErrorKind::Auth, "PowerDNS {case}: {e}");
        assert!(e.not_applied() && !e.is_retryable(), "PowerDNS {case}: {e}");
        assert!(e.to_string().starts_with("ns: "), "{e}");
        assert!(e.to_string().contains("REFUSED"), "PowerDNS {case}: {e}");
        if case == "key without rights" {
            assert!(
                !e.to_string().contains(KEY_REJECTED),
                "a valid key without rights is not a rejected key: {e}"
            );
            assert!(e.to_string().contains("not allowed"), "{e}");
        } else {
            assert!(e.to_string().contains(KEY_REJECTED), "PowerDNS {case}: {e}");
            // The PowerDNS-specific shape: REFUSED, and no TSIG record in the answer.
            assert!(e.to_string().contains("without a TSIG record"), "{e}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "auth errors must not be retried"
        );
        eprintln!("PowerDNS {case}: {e}");
        outputs.push(format!("{e} {e:?}"));
        // Reads (TSIG-signed queries): PowerDNS answers NOTAUTH, unsigned, to a key it cannot
        // verify; a valid key may read.
        let read = p
            .read(&fq(ZONE), &fq("www.example.test."), RecordType::A)
            .await;
        match (case, read) {
            ("key without rights", Ok(sets)) => {
                assert_eq!(sets, vec![a("www.example.test.", 300, &["192.0.2.1"])])
            }
            ("key without rights", Err(e)) => panic!("valid key cannot read: {e}"),
            (_, Ok(_)) => panic!("PowerDNS {case}: read accepted"),
            (_, Err(e)) => {
                assert!(e.is_auth() && e.to_string().contains(KEY_REJECTED), "{e}");
                outputs.push(format!("{e} {e:?}"));
            }
        }
        // Zone transfer: only keys in TSIG-ALLOW-AXFR.
        let e = p
            .read_zone(&fq(ZONE))
            .await
            .err()
            .unwrap_or_else(|| panic!("PowerDNS {case}: AXFR accepted"));
        assert!(
            e.is_auth() && e.to_string().contains(&ResponseCode::NotAuth.to_string()),
            "PowerDNS {case} AXFR (NOTAUTH): {e}"
        );
        eprintln!("PowerDNS {case} AXFR: {e}");
        outputs.push(format!("{e} {e:?}"));
    }
    // Unsigned (insecure) update and transfer: REFUSED / refused.
    let mut cfg = Config::new(peer.primary);
    cfg.insecure = true;
    cfg.retries = 0;
    let p = Rfc2136Provider::new("ns", cfg).unwrap_or_else(|e| panic!("{e}"));
    let e = p
        .apply(&change)
        .await
        .err()
        .unwrap_or_else(|| panic!("unsigned update accepted"));
    assert!(e.is_auth() && e.not_applied(), "{e}");
    assert!(e.to_string().contains("REFUSED"), "{e}");
    eprintln!("PowerDNS unsigned: {e}");
    outputs.push(format!("{e} {e:?}"));
    let e = p
        .read_zone(&fq(ZONE))
        .await
        .err()
        .unwrap_or_else(|| panic!("unsigned AXFR accepted (allow-axfr-ips is empty)"));
    assert!(
        e.is_auth() && e.to_string().contains(&ResponseCode::NotAuth.to_string()),
        "unsigned AXFR (NOTAUTH): {e}"
    );
    eprintln!("PowerDNS unsigned AXFR: {e}");

    assert_eq!(
        dig(peer.primary, "evil.example.test.", HType::A)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        None
    );
    let logged = capture.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        logged.contains("INSECURE"),
        "the insecure mode must be warned about: {logged}"
    );
    let logs = peer.logs();
    assert!(
        logs.contains("failed to validate"),
        "PowerDNS logs the bad signature: {logs}"
    );
    for text in outputs.iter().chain([&logged, &logs]) {
        for secret in [&peer.secret, &peer.secret512, &wrong.to_string()] {
            assert!(
                !text.contains(secret.as_str()),
                "secret leaked into: {text}"
            );
        }
    }
}

/// hmac-sha512 keys work; AXFR (every message TSIG-signed by PowerDNS) reads the zone; SOA is
/// reported; SRV/AAAA/TXT round-trip through PowerDNS's text storage.
#[tokio::test]
async fn sha512_axfr_soa() {
    let peer = PdnsPeer::start().await;
    let p = Rfc2136Provider::new(
        "ns512",
        config(&peer, KEY512, "hmac-sha512", &peer.secret512_file),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let soa0 = p
        .soa(&fq(ZONE))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no SOA"));
    assert_eq!(soa0.minimum, 60);
    let srv = RecordSet::new(
        fq("_sip._tcp.example.test."),
        RecordType::Srv,
        60,
        vec!["10 60 5060 sip.example.test.".into()],
    );
    let v6 = RecordSet::new(
        fq("v6.example.test."),
        RecordType::Aaaa,
        60,
        vec!["2001:db8::1".into()],
    );
    let txt = RecordSet::new(
        fq("t.example.test."),
        RecordType::Txt,
        60,
        vec!["hello world".into()],
    );
    p.apply(&cs(vec![
        Change::Create { new: srv.clone() },
        Change::Create { new: v6.clone() },
        Change::Create { new: txt.clone() },
    ]))
    .await
    .unwrap_or_else(|e| panic!("PowerDNS: {e}"));
    let soa1 = p
        .soa(&fq(ZONE))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no SOA"));
    assert_eq!(soa1.serial, soa0.serial + 1);
    let zone = p
        .read_zone(&fq(ZONE))
        .await
        .unwrap_or_else(|e| panic!("PowerDNS AXFR: {e}\nlogs:\n{}", peer.logs()));
    for want in [
        &srv,
        &v6,
        &txt,
        &a("www.example.test.", 300, &["192.0.2.1"]),
        &a("ns1.example.test.", 300, &["127.0.0.1"]),
    ] {
        assert!(
            zone.iter().any(|s| s.same_answer(want)),
            "PowerDNS: {want} missing from AXFR {zone:?}"
        );
    }
    // The values written can be deleted again by value (prerequisites compare PowerDNS's
    // stored text with the wire form we send).
    p.apply(&cs(vec![
        Change::Delete { old: srv.clone() },
        Change::Delete { old: txt.clone() },
    ]))
    .await
    .unwrap_or_else(|e| panic!("PowerDNS delete SRV/TXT: {e}"));
    assert_eq!(
        dig(peer.primary, "v6.example.test.", HType::AAAA)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        Some((60, vec!["2001:db8::1".into()]))
    );
    assert_eq!(
        dig(peer.primary, "t.example.test.", HType::TXT)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        None
    );
}

/// Without `propagation_servers`, the servers come from the NS set (ns1 -> 127.0.0.1).
#[tokio::test]
async fn ns_discovery() {
    let peer = PdnsPeer::start().await;
    let mut cfg = config(&peer, KEY, "hmac-sha256", &peer.secret_file);
    cfg.propagation_servers.clear();
    cfg.propagation_port = peer.primary.port();
    let p = Rfc2136Provider::new("ns", cfg).unwrap_or_else(|e| panic!("{e}"));
    let r = p
        .apply(&cs(vec![Change::Create {
            new: a("d.example.test.", 60, &["192.0.2.77"]),
        }]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = p
        .wait_propagation(&r)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.in_sync, "{report:?}");
    assert_eq!(
        report.servers.iter().map(|s| s.server).collect::<Vec<_>>(),
        vec![peer.primary]
    );
}
