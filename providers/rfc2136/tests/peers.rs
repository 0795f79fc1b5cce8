//! RFC 2136 adapter against real servers: BIND 9 and Knot DNS, each a primary plus a
//! secondary (NOTIFY + IXFR/AXFR) on 127.0.0.1, started by these tests (see `harness`).
//!
//! Each scenario runs against both servers. Answers are checked with real UDP queries through
//! hickory-net's client, independent of the adapter's own TCP transport.

mod harness;

use std::sync::{Arc, Mutex};

use dnsfailback_provider::testkit::run_conformance;
use dnsfailback_provider::{Change, ChangeSet, ErrorKind, Fqdn, Provider, RecordSet, RecordType};
use dnsfailback_provider_rfc2136::{Config, Rfc2136Provider, KEY_REJECTED};
use harness::{dig, serial, Kind, Peer, KEY, KEY512, ZONE};
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
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    assert_eq!(report.passed.len(), 8, "{report:?}");
    assert_eq!(
        report.skipped,
        vec![("weighted", "capabilities().weighted is false")]
    );
}

/// Failover and failback of www with a TTL change and restore, checked on primary and
/// secondary by real queries; prints the measured propagation times.
async fn failover_failback(kind: Kind) {
    let peer = Peer::start(kind).await;
    let p = provider(&peer);
    let www = "www.example.test.";
    let normal = a(www, 300, &["192.0.2.1"]);
    let failed_over = a(www, 30, &["198.51.100.2"]);
    assert_eq!(
        p.read(&fq(ZONE), &fq(www), RecordType::A)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        vec![normal.clone()]
    );
    let serial0 = serial(peer.primary).await.unwrap_or_else(|e| panic!("{e}"));

    for (step, old, new) in [
        ("failover", &normal, &failed_over),
        ("failback", &failed_over, &normal),
    ] {
        let receipt = p
            .apply(&cs(vec![Change::Update {
                old: old.clone(),
                new: new.clone(),
            }]))
            .await
            .unwrap_or_else(|e| panic!("{kind:?} {step}: {e}"));
        let report = p
            .wait_propagation(&receipt)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.in_sync, "{kind:?} {step}: {report:?}");
        assert_eq!(report.servers.len(), 2, "{report:?}");
        eprintln!(
            "PROPAGATION {kind:?} {step}: serial {} primary {:?} secondary {:?} total {:?}",
            report.serial, report.servers[0].elapsed, report.servers[1].elapsed, report.total
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
    let serial2 = serial(peer.secondary)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        serial2 >= serial0 + 2,
        "secondary serial {serial2} after two updates from {serial0}"
    );
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

    // Creating again: RRset-does-not-exist prerequisite.
    let e = p
        .apply(&cs(vec![Change::Create {
            new: a(name, 60, &["192.0.2.99"]),
        }]))
        .await
        .err();
    let e = e.unwrap_or_else(|| panic!("create of existing set succeeded"));
    assert!(e.is_conflict() && e.not_applied(), "{e}");
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

    // External TTL-only change (invisible to RFC 2136 prerequisites): caught by the TTL guard.
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

/// Wrong secret, unknown key name, a valid key without rights, and no key: each is refused
/// with a clear auth error, not retried, the zone unchanged, and no secret in any output.
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
            .unwrap_or_else(|| panic!("{kind:?} {case}: update accepted"));
        assert_eq!(e.kind, ErrorKind::Auth, "{kind:?} {case}: {e}");
        assert!(e.not_applied() && !e.is_retryable(), "{kind:?} {case}: {e}");
        assert!(e.to_string().starts_with("ns: "), "{e}");
        if case != "key without rights" {
            assert!(e.to_string().contains(KEY_REJECTED), "{kind:?} {case}: {e}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "auth errors must not be retried"
        );
        eprintln!("{kind:?} {case}: {e}");
        outputs.push(format!("{e} {e:?}"));
        // Reads with a wrong key fail as clearly.
        if let Err(e) = p
            .read(&fq(ZONE), &fq("www.example.test."), RecordType::A)
            .await
        {
            assert!(e.is_auth(), "{e}");
            outputs.push(format!("{e} {e:?}"));
        }
    }
    // Unsigned (insecure) update: BIND answers REFUSED, Knot NOTAUTH.
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
    outputs.push(format!("{e} {e:?}"));

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
    for text in outputs.iter().chain([&logged, &peer.logs()]) {
        for secret in [&peer.secret, &peer.secret512, &wrong.to_string()] {
            assert!(
                !text.contains(secret.as_str()),
                "secret leaked into: {text}"
            );
        }
    }
}

/// hmac-sha512 keys work; AXFR reads the zone; SOA is reported.
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
        vec!["hello world".into()],
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
    assert!(soa1.serial > soa0.serial);
    let zone = p
        .read_zone(&fq(ZONE))
        .await
        .unwrap_or_else(|e| panic!("{kind:?} AXFR: {e}"));
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
    assert_eq!(
        dig(peer.primary, "v6.example.test.", HType::AAAA)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        Some((60, vec!["2001:db8::1".into()]))
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

macro_rules! both {
    ($($f:ident),*) => {
        mod bind { $( #[tokio::test] async fn $f() { super::$f(super::Kind::Bind).await } )* }
        mod knot { $( #[tokio::test] async fn $f() { super::$f(super::Kind::Knot).await } )* }
    };
}
both!(
    conformance,
    failover_failback,
    concurrent_change,
    wrong_key,
    sha512_axfr_soa,
    ns_discovery
);
