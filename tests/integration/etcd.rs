//! Several controllers over a real etcd (started by the test on free loopback ports): one
//! leader changes DNS, a follower follows; when the leader dies the follower takes over with
//! the shared state (original TTL included) and finishes the failback; a deposed leader's
//! writes are refused by etcd itself.
//!
//! Real time, not tokio's paused clock: etcd expires leases on its own clock. Every wait is a
//! poll with a deadline, never a fixed sleep that a slow machine could outrun.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnsfailback::config::validate::parse;
use dnsfailback::config::EtcdSettings;
use dnsfailback::health::check_id;
use dnsfailback::probe::{FailureReason, Outcome, ProbeResult};
use dnsfailback::reconcile::{Clock, Controller};
use dnsfailback::state::etcd::{connect, observe, EtcdLeadership, EtcdStore};
use dnsfailback::state::{Leadership, Store};
use dnsfailback_provider::memory::MemoryProvider;
use dnsfailback_provider::{Fqdn, Provider, RecordType};

use crate::harness::Scratch;

/// An etcd server of its own, killed on drop (also when the test fails).
struct Etcd {
    child: Child,
    url: String,
    _dir: Scratch,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

impl Etcd {
    fn start() -> Etcd {
        Etcd::start_with(&[])
    }

    /// `extra` etcd flags, e.g. a short auth-token TTL.
    fn start_with(extra: &[&str]) -> Etcd {
        Etcd::start_scheme("http", extra)
    }

    /// Clients on `scheme` (`https` with the TLS flags in `extra`).
    fn start_scheme(scheme: &str, extra: &[&str]) -> Etcd {
        let dir = Scratch::new("etcd");
        let (client, peer) = (free_port(), free_port());
        let url = format!("{scheme}://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log =
            std::fs::File::create(dir.path("etcd.log")).unwrap_or_else(|e| panic!("etcd log: {e}"));
        let child = Command::new("etcd")
            .args([
                "--name",
                "t",
                "--data-dir",
                &dir.path("data").to_string_lossy(),
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &format!("t={peer_url}"),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start etcd ({e}); run scripts/install-test-deps.sh (apt etcd-server)"
                )
            });
        let etcd = Etcd {
            child,
            url,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr: SocketAddr = format!("127.0.0.1:{client}")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "etcd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        etcd
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings(etcd: &Etcd, node: &str) -> EtcdSettings {
    settings_ttl(etcd, node, Duration::from_secs(3))
}

fn settings_ttl(etcd: &Etcd, node: &str, lease_ttl: Duration) -> EtcdSettings {
    EtcdSettings {
        endpoints: vec![etcd.url.clone()],
        prefix: "/dnsfailback/test".into(),
        node: node.into(),
        lease_ttl,
        timeout: Duration::from_secs(2),
        auth: None,
        tls: Default::default(),
    }
}

/// Waits (up to 10 s) for `lead` to hold the lease, then writes `shop` (original TTL 300)
/// through `store`: the leader's first write, as each test needs it.
async fn lead_and_write(store: &EtcdStore, lead: &EtcdLeadership, what: &str) {
    until(what, Duration::from_secs(10), || lead.is_leader()).await;
    let st = dnsfailback::policy::ServiceState {
        original_ttl: Some(300),
        ..Default::default()
    };
    store
        .save_service_state("shop", &st)
        .await
        .unwrap_or_else(|e| panic!("{what}: the leader's write failed: {e}"));
}

async fn until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The scenario tests' service, with quick timers, behind an etcd group. The controllers
/// get an in-memory provider under the name `mem`; validation only checks the provider's
/// settings, and an embedded provider is refused with `[controller.etcd]`, hence rfc2136.
fn config(etcd: &Etcd) -> String {
    let mut text = crate::scenario::CONFIG.to_string();
    for (old, new) in [
        (
            "[providers.mem]\nkind = \"embedded\"\n",
            "[providers.mem]\nkind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\nkey_name = \"dnsfailback\"\nalgorithm = \"hmac-sha256\"\nsecret = { env = \"DNSFAILBACK_TEST_UNUSED_TSIG\" }\n",
        ),
        ("stable_for = \"60s\"", "stable_for = \"1s\""),
        (
            "restore_ttl_after = \"10m\"",
            "restore_ttl_after = \"1s\"\ncanary_steps = [100]",
        ),
        ("rise = 3\nfall = 2", "rise = 1\nfall = 1"),
    ] {
        assert!(text.contains(old), "the scenario config changed: `{old}` is gone");
        text = text.replace(old, new);
    }
    format!(
        "[controller.etcd]\nendpoints = [\"{}\"]\nprefix = \"/dnsfailback/test\"\nlease_ttl = \"3s\"\n{text}",
        etcd.url
    )
}

struct Node {
    ctl: Controller,
    leadership: Arc<EtcdLeadership>,
    store: Arc<EtcdStore>,
}

async fn node(etcd: &Etcd, name: &str, provider: &MemoryProvider) -> Node {
    let text = config(etcd);
    let (config, _) =
        parse(std::path::Path::new("etcd.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.controller.etcd.is_some(), "[controller.etcd] parsed");
    let (store, leadership) = connect(&settings(etcd, name)).unwrap_or_else(|e| panic!("{e}"));
    let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    providers.insert("mem".into(), Arc::new(provider.clone()));
    let ctl = Controller::new(
        config,
        providers,
        store.clone(),
        leadership.clone(),
        Clock::system(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    Node {
        ctl,
        leadership,
        store,
    }
}

/// One probe result per target into `n`, then a tick.
async fn round(n: &mut Node, primary_ok: bool) {
    for (target, ok) in [("primary", primary_ok), ("backup", true)] {
        n.ctl.observe(&ProbeResult {
            check: check_id("shop", target, 0),
            kind: Default::default(),
            outcome: Outcome {
                result: if ok {
                    Ok(())
                } else {
                    Err(FailureReason::Refused)
                },
                latency: Duration::from_millis(2),
            },
            at: tokio::time::Instant::now(),
        });
    }
    n.ctl.tick().await;
}

async fn answer(p: &MemoryProvider) -> Option<(u32, Vec<String>)> {
    let zone = Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
    let name = Fqdn::new("shop.example.test").unwrap_or_else(|e| panic!("{e}"));
    let sets = p
        .read(&zone, &name, RecordType::A)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sets.first().map(|s| (s.ttl, s.values.clone()))
}

fn reason(n: &Node) -> String {
    n.ctl
        .status_of("shop")
        .map(|s| s.reason)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_changes_dns_and_a_follower_takes_over_with_the_original_ttl() {
    let etcd = Etcd::start();
    let provider = MemoryProvider::new(
        "mem",
        &[Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"))],
    );
    let mut a = node(&etcd, "ctl-a", &provider).await;
    until("ctl-a to lead", Duration::from_secs(10), || {
        a.leadership.is_leader()
    })
    .await;
    let mut b = node(&etcd, "ctl-b", &provider).await;

    // Both probe and tick; only the leader writes.
    for _ in 0..5 {
        round(&mut a, true).await;
        round(&mut b, true).await;
    }
    assert!(!b.leadership.is_leader());
    assert_eq!(
        answer(&provider).await,
        Some((300, vec!["192.0.2.10".into()]))
    );
    assert!(
        reason(&b).contains("follower") && reason(&b).contains("ctl-a"),
        "{}",
        reason(&b)
    );
    let lease = |n: &Node| {
        let l = n.ctl.status_of("shop").and_then(|s| s.lease);
        l.unwrap_or_else(|| panic!("no lease in status"))
    };
    assert!(lease(&a).leading && lease(&a).holder.as_deref() == Some("ctl-a"));
    assert!(!lease(&b).leading && lease(&b).holder.as_deref() == Some("ctl-a"));
    let first = provider.applied().len();

    // The primary fails: the leader fails over, the follower changes nothing.
    round(&mut a, false).await;
    round(&mut b, false).await;
    assert_eq!(
        answer(&provider).await,
        Some((30, vec!["198.51.100.20".into()]))
    );
    assert_eq!(
        provider.applied().len(),
        first + 1,
        "one change, by the leader"
    );
    let token_a = a.leadership.fencing_token();

    // The leader dies without a word (no resign): its lease runs out, the follower takes
    // over, reloads the shared state and, the primary being back, fails back and restores
    // the original TTL it never saw itself.
    drop(a);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(15);
    while !b.leadership.is_leader() {
        assert!(Instant::now() < deadline, "ctl-b never took over");
        round(&mut b, true).await;
        assert_eq!(
            answer(&provider).await,
            Some((30, vec!["198.51.100.20".into()])),
            "no change while nobody leads"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "takeover took {took:?} with a 3 s lease"
    );
    assert!(
        b.leadership.fencing_token() > token_a,
        "a new leader, a higher token"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        round(&mut b, true).await;
        if answer(&provider).await == Some((300, vec!["192.0.2.10".into()])) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ctl-b did not fail back with the original TTL: {:?} / {}",
            answer(&provider).await,
            reason(&b)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = b
        .store
        .service_state("shop")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no state"));
    assert_eq!(state.original_ttl, Some(300));
    assert_eq!(state.phase.label(), "normal");
    let actions: Vec<String> = b
        .store
        .history("shop", 20)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"failover".to_string()), "{actions:?}");
    assert!(actions.contains(&"ttl_restore".to_string()), "{actions:?}");
    assert!(
        b.store.open_intents().await.unwrap_or_default().is_empty(),
        "every intent closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leaders_writes_are_refused_by_etcd() {
    let etcd = Etcd::start();
    // A 30 s lease: ctl-a looks at the leader key only every 10 s, so it is certain to still
    // believe it leads when its write arrives below (no race with its own check).
    let (store_a, lead_a) = connect(&settings_ttl(&etcd, "ctl-a", Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{e}"));
    lead_and_write(&store_a, &lead_a, "ctl-a to lead").await;
    let st = dnsfailback::policy::ServiceState {
        original_ttl: Some(300),
        ..Default::default()
    };

    // Someone else's view: the leader key vanishes (as when etcd expires a paused leader's
    // lease) and ctl-b wins it, while ctl-a has not noticed yet.
    let http = reqwest::Client::new();
    let key = base64_of("/dnsfailback/test/leader");
    let del = http
        .post(format!("{}/v3/kv/deleterange", etcd.url))
        .body(format!(r#"{{"key":"{key}"}}"#))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(del.status().is_success());
    let (store_b, lead_b) = connect(&settings(&etcd, "ctl-b")).unwrap_or_else(|e| panic!("{e}"));
    until("ctl-b to lead", Duration::from_secs(10), || {
        lead_b.is_leader()
    })
    .await;
    assert!(lead_b.fencing_token() > lead_a.fencing_token());

    let mut stale = st.clone();
    stale.original_ttl = Some(30);
    stale.phase = dnsfailback::policy::Phase::Restoring { since_ms: 1 };
    assert!(lead_a.is_leader(), "ctl-a has not looked yet");
    // It still believes it leads: etcd's compare on the leader key's revision refuses it.
    let e = store_a
        .save_service_state("shop", &stale)
        .await
        .err()
        .unwrap_or_else(|| panic!("a deposed leader's write went through"));
    assert!(e.to_string().contains("fenced"), "{e}");
    // Either way the shared state is the one the real leaders wrote.
    let now = store_b
        .service_state("shop")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_eq!(now.phase, st.phase);
    assert_eq!(now.original_ttl, Some(300));
    // ... and ctl-a notices at its next look (a third of its TTL) and stops calling itself
    // leader.
    until("ctl-a to step down", Duration::from_secs(15), || {
        !lead_a.is_leader()
    })
    .await;
    until("ctl-a to see ctl-b lead", Duration::from_secs(15), || {
        lead_a.holder().as_deref() == Some("ctl-b")
    })
    .await;
    let e = store_a
        .begin_intent(&dnsfailback::state::Intent {
            id: 0,
            service: "shop".into(),
            created_ms: 1,
            fencing_token: lead_a.fencing_token(),
            reason: "stale".into(),
            changes: dnsfailback_provider::ChangeSet {
                zone: Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}")),
                changes: vec![],
            },
            next_state: stale,
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("a follower journaled an intent"));
    assert!(e.to_string().contains("not the leader"), "{e}");
    assert!(e.to_string().contains("ctl-b"), "names the holder: {e}");

    // `plan` and other tools read the group's state without ever campaigning.
    let tool = observe(&settings(&etcd, "plan")).unwrap_or_else(|e| panic!("{e}"));
    let seen = tool
        .service_state("shop")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_eq!(seen.original_ttl, Some(300));
    let e = tool
        .save_service_state("shop", &seen)
        .await
        .err()
        .unwrap_or_else(|| panic!("an observer wrote"));
    assert!(e.to_string().contains("not the leader"), "{e}");
    assert!(lead_b.is_leader(), "the observer took nothing from ctl-b");

    // A clean stop resigns: the next candidate leads at once, not after the 3 s lease.
    lead_b.resign().await;
    assert!(!lead_b.is_leader());
    let t0 = Instant::now();
    let (_store_c, lead_c) = connect(&settings(&etcd, "ctl-c")).unwrap_or_else(|e| panic!("{e}"));
    until("ctl-c to lead", Duration::from_secs(10), || {
        lead_c.is_leader()
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "took {:?} after a resign",
        t0.elapsed()
    );
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Turns authentication on: user `root` (role root) with `password`.
async fn enable_auth(etcd: &Etcd, password: &str) {
    let http = reqwest::Client::new();
    for (path, body) in [
        (
            "/v3/auth/user/add",
            format!(r#"{{"name":"root","password":"{password}"}}"#),
        ),
        (
            "/v3/auth/user/grant",
            r#"{"user":"root","role":"root"}"#.to_string(),
        ),
        ("/v3/auth/enable", "{}".to_string()),
    ] {
        let r = http
            .post(format!("{}{path}", etcd.url))
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_with_authentication_needs_the_password_and_never_shows_it() {
    // Tokens expire after 2 s without use, so the renewal path runs too.
    let etcd = Etcd::start_with(&["--auth-token-ttl", "2"]);
    let password = "s3cret-etcd-pw-9f2c";
    enable_auth(&etcd, password).await;
    // Passwords from files, not the environment: `std::env::set_var` in a multi-threaded test
    // binary races every other test reading the environment.
    let secrets = Scratch::new("etcd-secrets");
    let secret_file = |name: &str, value: &str| {
        let path = secrets.path(name);
        std::fs::write(&path, value).unwrap_or_else(|e| panic!("{name}: {e}"));
        path
    };
    let right = secret_file("password", password);
    let wrong_pw = secret_file("wrong-password", "not-the-password-77");
    let with = |user: &str, file: &std::path::Path| EtcdSettings {
        auth: Some((
            user.to_string(),
            dnsfailback_provider::SecretSource {
                env: None,
                file: Some(file.to_path_buf()),
            },
        )),
        ..settings(&etcd, "ctl-a")
    };

    // No credentials: refused by etcd, said plainly.
    let anon = observe(&settings(&etcd, "anon")).unwrap_or_else(|e| panic!("{e}"));
    let e = anon
        .service_state("shop")
        .await
        .err()
        .unwrap_or_else(|| panic!("read without a user"));
    assert!(e.to_string().contains("user name is empty"), "{e}");

    // A wrong password: the error names the user, never a password.
    let wrong = observe(&with("root", &wrong_pw)).unwrap_or_else(|e| panic!("{e}"));
    let e = wrong
        .service_state("shop")
        .await
        .err()
        .unwrap_or_else(|| panic!("a wrong password was accepted"));
    let text = format!("{e} {e:?}");
    assert!(text.contains("authentication as `root` failed"), "{text}");
    assert!(
        !text.contains("not-the-password-77") && !text.contains(password),
        "{text}"
    );

    // The right one: the controller leads and writes.
    let (store, lead) = connect(&with("root", &right)).unwrap_or_else(|e| panic!("{e}"));
    lead_and_write(&store, &lead, "ctl-a to lead with auth").await;
    assert!(
        !format!("{store:?} {lead:?}").contains(password),
        "Debug shows no password"
    );

    // An idle reader's token expires on the server; the next read renews it.
    let reader = observe(&with("root", &right)).unwrap_or_else(|e| panic!("{e}"));
    let first = reader
        .service_state("shop")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(3500)).await; // the server's token TTL, not ours
    let again = reader
        .service_state("shop")
        .await
        .unwrap_or_else(|e| panic!("an expired token was not renewed: {e}"));
    assert_eq!(first, again);
    assert_eq!(again.and_then(|s| s.original_ttl), Some(300));
}

/// The holder of the group's leader key, read straight from etcd.
async fn leader_in_etcd(etcd: &Etcd) -> Option<String> {
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v3/kv/range", etcd.url))
        .body(format!(
            r#"{{"key":"{}"}}"#,
            base64_of("/dnsfailback/test/leader")
        ))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let value = v.pointer("/kvs/0/value")?.as_str()?;
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    String::from_utf8(raw).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_campaigns_and_a_stopped_leader_hands_over_at_once() {
    let etcd = Etcd::start();
    let dir = crate::harness::Scratch::new("etcd-bin");
    // A 30 s lease: a hand-over within a few seconds can only come from the resign on SIGTERM.
    let node_config = |node: &str| {
        let text = config(&etcd)
            .replace("lease_ttl = \"3s\"", &format!("lease_ttl = \"30s\"\nnode = \"{node}\""))
            .replace(
                "[providers.mem]",
                &format!(
                    "[controller]\nstate = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n[providers.mem]",
                    dir.path(&format!("{node}.db")).display()
                ),
            );
        let path = dir.path(&format!("{node}.toml"));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    let env = [("DNSFAILBACK_TEST_UNUSED_TSIG", "c2VjcmV0")];
    let a = crate::harness::Proc::start(&node_config("ctl-a"), &env);
    a.wait_for("became the leader", Duration::from_secs(20));
    let b = crate::harness::Proc::start(&node_config("ctl-b"), &env);
    b.admin_addr();
    assert_eq!(leader_in_etcd(&etcd).await.as_deref(), Some("ctl-a"));

    let t0 = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &a.pid().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(kill.success());
    b.wait_for("became the leader", Duration::from_secs(15));
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "ctl-b led after {:?}: the lease was not given up (30 s TTL)",
        t0.elapsed()
    );
    assert_eq!(leader_in_etcd(&etcd).await.as_deref(), Some("ctl-b"));
    assert!(a.log().contains("resigned the leader lease"), "{}", a.log());
}

/// Issue 19: an etcd that requires client certificates (`--client-cert-auth`, TLS on its
/// client port) refuses a controller without one and lets the one with ours lead and write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_with_client_certificates_refuses_us_without_ours_and_lets_us_lead_with_it() {
    use crate::admin_tls::{ca, leaf, leaf_for};
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let pki = Scratch::new("etcd-pki");
    let write = |name: &str, text: &str| {
        let p = pki.path(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        p
    };
    let authority = ca("etcd test CA");
    let (server_cert, server_key) = leaf_for(&authority, vec![ServerAuth, ClientAuth]);
    let (client_cert, client_key) = leaf(&authority, ClientAuth);
    let ca_file = write("ca.pem", &authority.pem);
    let (sc, sk) = (
        write("server.crt", &server_cert),
        write("server.key", &server_key),
    );
    let identity = dnsfailback::tls::Identity {
        cert: write("client.crt", &client_cert),
        key: write("client.key", &client_key),
    };
    let flags = [
        "--cert-file",
        &sc.to_string_lossy(),
        "--key-file",
        &sk.to_string_lossy(),
    ]
    .map(str::to_string);
    let ca_arg = ca_file.to_string_lossy().to_string();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["--client-cert-auth", "--trusted-ca-file", &ca_arg]);
    let etcd = Etcd::start_scheme("https", &args);
    let tls = |identity| dnsfailback::config::EtcdTls {
        ca: Some(ca_file.clone()),
        identity,
    };

    let without = EtcdSettings {
        tls: tls(None),
        ..settings(&etcd, "no-cert")
    };
    let anon = observe(&without).unwrap_or_else(|e| panic!("{e}"));
    let refused = anon.service_state("shop").await;
    assert!(
        refused.is_err(),
        "etcd answered a client without a certificate"
    );

    let with = EtcdSettings {
        tls: tls(Some(identity)),
        ..settings(&etcd, "ctl-a")
    };
    let (store, lead) = connect(&with).unwrap_or_else(|e| panic!("{e}"));
    lead_and_write(&store, &lead, "ctl-a to lead over mTLS").await;
    let reader = observe(&with).unwrap_or_else(|e| panic!("{e}"));
    let back = reader
        .service_state("shop")
        .await
        .unwrap_or_else(|e| panic!("read over mTLS: {e}"));
    assert_eq!(back.and_then(|s| s.original_ttl), Some(300));
    lead.resign().await;
}

/// The etcd store keeps change records like the others (issue 16): found by id, the newer
/// ones of a service listed, a rollback marks its change, and a second rollback of the same
/// change is refused, with the refused record not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etcd_store_keeps_change_records_and_refuses_a_second_rollback() {
    use dnsfailback::state::ChangeRecord;
    let etcd = Etcd::start();
    let (store, lead) = connect(&settings(&etcd, "ctl-a")).unwrap_or_else(|e| panic!("{e}"));
    lead_and_write(&store, &lead, "ctl-a to lead").await;
    let zone = Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
    let record = |id: i64, service: &str, rollback_of: Option<i64>| ChangeRecord {
        id,
        service: service.into(),
        at_ms: id as u64,
        actor: "controller".into(),
        action: "failover".into(),
        changes: dnsfailback_provider::ChangeSet::new(zone.clone()),
        rollback_of,
        rolled_back_by: None,
    };
    let ok = |r: Result<(), dnsfailback::state::StoreError>| r.unwrap_or_else(|e| panic!("{e}"));
    ok(store
        .record_changes(&[record(1, "shop", None), record(2, "web", None)])
        .await);
    ok(store.record_changes(&[record(3, "shop", None)]).await);
    let one = store.change(1).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one, Some(record(1, "shop", None)));
    let newer = store
        .changes_after("shop", 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(newer.iter().map(|c| c.id).collect::<Vec<_>>(), vec![3]);
    ok(store.record_changes(&[record(4, "shop", Some(3))]).await);
    let three = store.change(3).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(three.and_then(|c| c.rolled_back_by), Some(4));
    let again = store.record_changes(&[record(5, "shop", Some(3))]).await;
    assert!(
        again.is_err_and(|e| e.0.contains("already rolled back by change 4")),
        "a change is rolled back once"
    );
    assert_eq!(
        store.change(5).await.unwrap_or_else(|e| panic!("{e}")),
        None
    );
}

/// Issue 20: with several controllers, every one serves the zone from its embedded DNS
/// server. The leader fails `shop` over; the follower's own server answers the backup too,
/// within seconds, without changing anything anywhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_controller_of_a_group_serves_the_leaders_answers_from_its_embedded_server() {
    let etcd = Etcd::start();
    let dir = crate::harness::Scratch::new("etcd-embedded");
    let (primary, backup) = (
        crate::harness::backend().await,
        crate::harness::backend().await,
    );
    let node_config = |node: &str| {
        let node_dir = dir.path(node);
        std::fs::create_dir_all(&node_dir).unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "{}\n[controller.etcd]\nendpoints = [\"{}\"]\nprefix = \"/dnsfailback/test\"\n\
             lease_ttl = \"30s\"\nnode = \"{node}\"\n",
            crate::harness::config(&node_dir, primary.addr(), backup.addr(), ""),
            etcd.url
        );
        let path = dir.path(&format!("{node}.toml"));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    let a = crate::harness::Proc::start(&node_config("ctl-a"), &[]);
    a.wait_for("became the leader", Duration::from_secs(20));
    let b = crate::harness::Proc::start(&node_config("ctl-b"), &[]);
    let is = |ip: &'static str| move |x: &dnsfailback::cli::dig::Answer| x.values == [ip];
    for (who, p) in [("leader", &a), ("follower", &b)] {
        let what = format!("the primary on the {who}");
        crate::harness::wait_dns(
            p.dns_addr(),
            Duration::from_secs(20),
            &what,
            is("127.0.0.11"),
        )
        .await;
    }
    drop(primary);
    for (who, p) in [("leader", &a), ("follower", &b)] {
        let what = format!("the backup on the {who}");
        let got = crate::harness::wait_dns(
            p.dns_addr(),
            Duration::from_secs(15),
            &what,
            is("127.0.0.12"),
        )
        .await;
        assert_eq!(got.ttl, Some(30), "{who}: the failover TTL");
    }
    assert!(
        !b.log().contains("became the leader"),
        "the follower only mirrored:\n{}",
        b.log()
    );
}
