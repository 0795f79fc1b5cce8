//! RFC 2136 adapter against real servers: BIND 9, Knot DNS and PowerDNS Authoritative
//! (gsqlite3), each a primary plus a secondary (NOTIFY + IXFR/AXFR) on 127.0.0.1, started by
//! these tests (see `harness`), with TSIG (hmac-sha256 and hmac-sha512).
//!
//! Each scenario runs against all three servers. Answers are checked with real UDP queries
//! through hickory-net's client, independent of the adapter's own TCP transport.
//!
//! Where the servers differ (each asserted below, under `match kind`):
//! - an UPDATE signed with a key the server cannot verify (wrong secret, unknown name, wrong
//!   algorithm): BIND/Knot answer NOTAUTH with an unsigned TSIG carrying BADSIG/BADKEY;
//!   PowerDNS answers REFUSED with **no TSIG record at all**;
//! - a valid key missing from `TSIG-ALLOW-DNSUPDATE` gets a signed REFUSED from PowerDNS;
//! - PowerDNS's serial follows `SOA-EDIT-DNSUPDATE` (the harness sets INCREASE: + 1 each);
//! - PowerDNS's secondary follows only with `NOTIFY-DNSUPDATE=1` (+ `ALSO-NOTIFY` here), after
//!   about 1-2 s (the communicator's notification queue).

mod harness;

use std::sync::{Arc, Mutex};

use dnsfailback_provider::testkit::run_conformance;
use dnsfailback_provider::{Change, ChangeSet, ErrorKind, Fqdn, Provider, RecordSet, RecordType};
use dnsfailback_provider_rfc2136::{Config, Rfc2136Provider, KEY_REJECTED};
use harness::{dig, serial, Kind, Peer, KEY, KEY512, ZONE};
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
fn config(peer: &Peer, key: &str, alg: &str, secret_file: &std::path::Path) -> Config {
    let text = format!(
        "server = \"{}\"\nkey_name = \"{key}\"\nalgorithm = \"{alg}\"\nsecret = {{ file = \"{}\" }}\n\
         timeout = \"2s\"\nretries = 1\npropagation_servers = [\"{}\"]\npropagation_timeout = \"30s\"\n",
        peer.primary,
        secret_file.display(),
        peer.secondary
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("config: {e}\n{text}"))
}

fn provider(peer: &Peer) -> Rfc2136Provider {
    Rfc2136Provider::new("ns", config(peer, KEY, "hmac-sha256", &peer.secret_file))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn served(peer: &Peer, name: &str) -> Vec<Option<(u32, Vec<String>)>> {
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

async fn conformance(kind: Kind) {
    let peer = Peer::start(kind).await;
    let p = provider(&peer);
    let report = run_conformance(&p, &fq(ZONE), "conf")
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: {e}\nlogs:\n{}", peer.logs()));
    assert_eq!(report.passed.len(), 9, "{report:?}");
    assert_eq!(
        report.skipped,
        vec![("weighted", "capabilities().weighted is false")]
    );
}

/// Failover (swap the records of www and lower the TTL), failback, then a TTL-only change,
/// each checked on primary and secondary by real UDP queries after the propagation wait;
/// prints the measured propagation times. The serial goes up by exactly one per UPDATE.
async fn failover_failback(kind: Kind) {
    let peer = Peer::start(kind).await;
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
    assert_eq!(serial0, 1, "{kind:?}: seed zone serial");

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
            .unwrap_or_else(|e| panic!("{kind:?} {step}: {e}\nlogs:\n{}", peer.logs()));
        let report = p
            .wait_propagation(&receipt)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            report.in_sync,
            "{kind:?} {step}: {report:?}\nlogs:\n{}",
            peer.logs()
        );
        assert_eq!(report.servers.len(), 2, "{report:?}");
        eprintln!(
            "PROPAGATION {kind:?} {step}: serial {} primary {:?} secondary {:?} total {:?}",
            report.serial, report.servers[0].elapsed, report.servers[1].elapsed, report.total
        );
        assert_eq!(
            report.serial,
            serial0 + 1 + i as u32,
            "{kind:?} {step}: {report:?}"
        );
        let want = Some((new.ttl, new.values.clone()));
        assert_eq!(
            served(&peer, www).await,
            vec![want.clone(), want],
            "{kind:?} {step}"
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
            "{kind:?} {s}: serial after three updates"
        );
    }
}

/// Someone else (nsupdate) changes the set between our read and our apply: the UPDATE's
/// prerequisites fail it cleanly, nothing is overwritten, and a re-read + re-plan succeeds.
async fn concurrent_change(kind: Kind) {
    let peer = Peer::start(kind).await;
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
        .unwrap_or_else(|| panic!("{kind:?}: create of existing set succeeded"));
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert!(
        e.to_string().contains(&ResponseCode::YXRRSet.to_string()),
        "{kind:?}: {e}"
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
        .unwrap_or_else(|| panic!("{kind:?}: stale update overwrote an external change"));
    assert!(e.is_conflict() && e.not_applied(), "{e}");
    assert!(e.to_string().contains("prerequisite failed"), "{e}");
    // RRset-exists-(value-dependent) prerequisite not met.
    assert!(
        e.to_string().contains(&ResponseCode::NXRRSet.to_string()),
        "{kind:?}: {e}"
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

    // External TTL-only change (invisible to RFC 2136 prerequisites, which ignore TTLs on every
    // server): caught by the adapter's TTL guard.
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
        .unwrap_or_else(|| panic!("{kind:?}: TTL change not detected"));
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

/// A zone transfer with `p`'s key must be refused with an auth error; returns the message
/// (also kept in `outputs` for the secret-leak check).
async fn axfr_refused(p: &Rfc2136Provider, what: &str, outputs: &mut Vec<String>) -> String {
    let e = p
        .read_zone(&fq(ZONE))
        .await
        .err()
        .unwrap_or_else(|| panic!("{what}: AXFR accepted"));
    eprintln!("{what} AXFR: {e}");
    outputs.push(format!("{e} {e:?}"));
    assert!(e.is_auth(), "{what} AXFR: {e}");
    e.to_string()
}

/// Wrong secret, unknown key name, wrong algorithm, a valid key without rights, and no key:
/// each update is refused with a clear auth error, not retried, the zone unchanged; reads and
/// zone transfers with those keys are refused as clearly (a valid key may read), and no
/// secret is in any output or server log.
async fn wrong_key(kind: Kind) {
    let peer = Peer::start(kind).await;
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let wrong_file = peer.dir.join("wrong.secret");
    let wrong = "d3Jvbmctc2VjcmV0LWZvci10ZXN0cy0wMDAwMDAwMDA=";
    std::fs::write(&wrong_file, wrong).unwrap_or_else(|e| panic!("{e}"));
    let change = cs(vec![Change::Create {
        new: a("evil.example.test.", 60, &["203.0.113.66"]),
    }]);
    let notauth = ResponseCode::NotAuth.to_string();
    let refused = "REFUSED".to_string();
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
        // A key the server cannot verify, as opposed to a valid key it grants nothing.
        let bad_key = case != "key without rights";
        let p = Rfc2136Provider::new("ns", cfg).unwrap_or_else(|e| panic!("{e}"));
        outputs.push(format!("{p:?}"));
        let started = std::time::Instant::now();
        let e = p
            .apply(&change)
            .await
            .err()
            .unwrap_or_else(|| panic!("{kind:?} {case}: update accepted"));
        eprintln!("{kind:?} {case}: {e}");
        outputs.push(format!("{e} {e:?}"));
        assert_eq!(e.kind, ErrorKind::Auth, "{kind:?} {case}: {e}");
        assert!(e.not_applied() && !e.is_retryable(), "{kind:?} {case}: {e}");
        assert!(e.to_string().starts_with("ns: "), "{e}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "auth errors must not be retried"
        );
        let e = e.to_string();
        match (kind, bad_key) {
            // BIND/Knot: NOTAUTH with an unsigned TSIG record carrying BADSIG/BADKEY.
            (Kind::Bind | Kind::Knot, true) => {
                assert!(
                    e.contains(KEY_REJECTED) && e.contains(&notauth),
                    "{kind:?} {case}: {e}"
                )
            }
            // PowerDNS: REFUSED with no TSIG record at all in the answer.
            (Kind::PowerDns, true) => assert!(
                e.contains(KEY_REJECTED)
                    && e.contains(&refused)
                    && e.contains("without a TSIG record"),
                "PowerDNS {case}: {e}"
            ),
            // BIND and PowerDNS refuse a valid key they grant nothing with a signed REFUSED:
            // not a rejected key, a key without rights.
            (Kind::Bind | Kind::PowerDns, false) => assert!(
                !e.contains(KEY_REJECTED) && e.contains(&refused) && e.contains("not allowed"),
                "{kind:?}: a valid key without rights is not a rejected key: {e}"
            ),
            // Knot answers a key its ACL does not match NOTAUTH + BADKEY, as for an unknown key.
            (Kind::Knot, false) => assert!(
                e.contains(KEY_REJECTED) && e.contains("BADKEY"),
                "Knot {case}: {e}"
            ),
        }
        // Reads (TSIG-signed queries): a key the server cannot verify fails as clearly; a
        // valid key may read, except on Knot, which answers a query signed with a key no ACL
        // names NOTAUTH + BADKEY too.
        let read = p
            .read(&fq(ZONE), &fq("www.example.test."), RecordType::A)
            .await;
        match (bad_key || kind == Kind::Knot, read) {
            (false, Ok(sets)) => {
                assert_eq!(sets, vec![a("www.example.test.", 300, &["192.0.2.1"])])
            }
            (false, Err(e)) => panic!("{kind:?}: valid key cannot read: {e}"),
            (true, Ok(_)) => panic!("{kind:?} {case}: read accepted"),
            (true, Err(e)) => {
                eprintln!("{kind:?} {case} read: {e}");
                outputs.push(format!("{e} {e:?}"));
                assert!(e.is_auth() && e.to_string().contains(KEY_REJECTED), "{e}");
            }
        }
        // Zone transfer: only the two keys granted it.
        let e = axfr_refused(&p, &format!("{kind:?} {case}"), &mut outputs).await;
        if bad_key {
            assert!(
                e.contains(KEY_REJECTED) && e.contains(&notauth),
                "{kind:?} {case} AXFR: {e}"
            );
        } else {
            match kind {
                // A valid key not in `allow-transfer`: signed REFUSED.
                Kind::Bind => assert!(e.contains(&refused) && e.contains("not allowed"), "{e}"),
                // Knot (ACL) and PowerDNS (TSIG-ALLOW-AXFR): NOTAUTH.
                Kind::Knot | Kind::PowerDns => assert!(e.contains(&notauth), "{kind:?}: {e}"),
            }
        }
    }
    // Unsigned (insecure) update and transfer.
    let mut cfg = Config::new(peer.primary);
    cfg.insecure = true;
    cfg.retries = 0;
    let p = Rfc2136Provider::new("ns", cfg).unwrap_or_else(|e| panic!("{e}"));
    let e = p
        .apply(&change)
        .await
        .err()
        .unwrap_or_else(|| panic!("{kind:?}: unsigned update accepted"));
    eprintln!("{kind:?} unsigned: {e}");
    outputs.push(format!("{e} {e:?}"));
    assert!(e.is_auth() && e.not_applied(), "{e}");
    // BIND and PowerDNS answer an unsigned update REFUSED, Knot NOTAUTH.
    let want = match kind {
        Kind::Bind | Kind::PowerDns => &refused,
        Kind::Knot => &notauth,
    };
    assert!(
        e.to_string().contains(want.as_str()),
        "{kind:?} unsigned: {e}"
    );
    let e = axfr_refused(&p, &format!("{kind:?} unsigned"), &mut outputs).await;
    // BIND answers an unsigned transfer REFUSED, Knot and PowerDNS NOTAUTH.
    let want = match kind {
        Kind::Bind => &refused,
        Kind::Knot | Kind::PowerDns => &notauth,
    };
    assert!(e.contains(want.as_str()), "{kind:?} unsigned AXFR: {e}");

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
    // The server logs the bad signature, each in its own words; Knot logs TSIG failures only
    // at debug level, above the `info` the harness sets.
    let bad_sig_logged = match kind {
        Kind::Bind => "tsig verify failure (BADSIG)",
        Kind::Knot => "",
        Kind::PowerDns => "failed to validate",
    };
    assert!(
        logs.contains(bad_sig_logged),
        "{kind:?} logs the bad signature ({bad_sig_logged}): {logs}"
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

/// hmac-sha512 keys work; AXFR (every message TSIG-signed) reads the zone; SOA is reported;
/// SRV/AAAA/TXT round-trip (through PowerDNS's text storage too) and can be deleted by value.
async fn sha512_axfr_soa(kind: Kind) {
    let peer = Peer::start(kind).await;
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
        // Plain text in config; the canonical quoted form is what every adapter reads back.
        vec![RecordType::Txt
            .normalize_value("hello world")
            .unwrap_or_else(|e| panic!("{e}"))],
    );
    p.apply(&cs(vec![
        Change::Create { new: srv.clone() },
        Change::Create { new: v6.clone() },
        Change::Create { new: txt.clone() },
    ]))
    .await
    .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    let soa1 = p
        .soa(&fq(ZONE))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no SOA"));
    assert_eq!(
        soa1.serial,
        soa0.serial + 1,
        "{kind:?}: one UPDATE, serial + 1"
    );
    let zone = p
        .read_zone(&fq(ZONE))
        .await
        .unwrap_or_else(|e| panic!("{kind:?} AXFR: {e}\nlogs:\n{}", peer.logs()));
    for want in [
        &srv,
        &v6,
        &txt,
        &a("www.example.test.", 300, &["192.0.2.1"]),
        &a("ns1.example.test.", 300, &["127.0.0.1"]),
    ] {
        assert!(
            zone.iter().any(|s| s.same_answer(want)),
            "{kind:?}: {want} missing from AXFR {zone:?}"
        );
    }
    // The values written can be deleted again by value (prerequisites compare the server's
    // stored form, for PowerDNS its text storage, with the wire form we send).
    p.apply(&cs(vec![
        Change::Delete { old: srv.clone() },
        Change::Delete { old: txt.clone() },
    ]))
    .await
    .unwrap_or_else(|e| panic!("{kind:?} delete SRV/TXT: {e}"));
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
async fn ns_discovery(kind: Kind) {
    let peer = Peer::start(kind).await;
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

/// A site failover as the controller sends it: the changes of many services in one change set
/// of the zone, as large as the adapter declares it can carry (`max_batch_records`): one
/// UPDATE message each (the serial goes up by exactly one), accepted and served.
async fn site_batch(kind: Kind) {
    let peer = Peer::start(kind).await;
    let p = provider(&peer);
    let limit = p.capabilities().max_batch_records;
    let n = limit / 2; // an update counts its old and its new set
    let name = |i: usize| format!("s{i:03}.{ZONE}");
    let serial0 = serial(peer.primary).await.unwrap_or_else(|e| panic!("{e}"));
    let create = cs((0..n)
        .map(|i| Change::Create {
            new: a(&name(i), 300, &["192.0.2.10"]),
        })
        .collect());
    p.apply(&create)
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: create {n}: {e}"));
    let failover = cs((0..n)
        .map(|i| Change::Update {
            old: a(&name(i), 300, &["192.0.2.10"]),
            new: a(&name(i), 30, &["198.51.100.20"]),
        })
        .collect());
    assert_eq!(failover.record_count(), limit);
    p.apply(&failover)
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: failover of {n}: {e}\nlogs:\n{}", peer.logs()));
    let serial1 = serial(peer.primary).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(serial1, serial0 + 2, "{kind:?}: one UPDATE per change set");
    for i in [0, n / 2, n - 1] {
        let got = dig(peer.primary, &name(i), HType::A)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            Some((30, vec!["198.51.100.20".to_string()])),
            "{}",
            name(i)
        );
    }
}

macro_rules! all_kinds {
    ($($f:ident),*) => {
        mod bind { $( #[tokio::test] async fn $f() { super::$f(super::Kind::Bind).await } )* }
        mod knot { $( #[tokio::test] async fn $f() { super::$f(super::Kind::Knot).await } )* }
        mod powerdns { $( #[tokio::test] async fn $f() { super::$f(super::Kind::PowerDns).await } )* }
    };
}
all_kinds!(
    conformance,
    failover_failback,
    concurrent_change,
    wrong_key,
    sha512_axfr_soa,
    ns_discovery,
    site_batch
);
